"""Chat prompts and incremental detokenisation for the model server.

:func:`render_chat` turns OpenAI-style chat messages into the llm-jp-sft style prompt of our
instruction tuning (template in :mod:`yotsuba.slm.serve`), and :class:`IncrementalText` turns
a growing list of token ids into streamed text deltas that never end inside a UTF-8 character
or a possible stop string. Both are re-exported by :mod:`yotsuba.slm.serve`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from yotsuba.core.errors import InputError

__all__ = ["CHAT_STOP", "IncrementalText", "render_chat"]

CHAT_STOP = "\n\n### 指示："
_USER = "### 指示：\n{content}\n\n### 回答：\n"


def render_chat(messages: Sequence[dict[str, str]]) -> str:
    """The prompt text of a chat (the template is in :mod:`yotsuba.slm.serve`).

    >>> render_chat([{"role": "user", "content": "点検周期は？"}])
    '### 指示：\\n点検周期は？\\n\\n### 回答：\\n'
    >>> render_chat([{"role": "system", "content": "簡潔に。"},
    ...              {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
    ...              {"role": "user", "content": "c"}])
    '簡潔に。\\n\\n### 指示：\\na\\n\\n### 回答：\\nb\\n\\n### 指示：\\nc\\n\\n### 回答：\\n'
    """
    parts: list[str] = []
    want = "user"
    for i, m in enumerate(messages):
        role, content = m["role"], m["content"]
        if role == "system":
            if i != 0:
                raise InputError("messages: a system message may only come first")
            parts.append(content + "\n\n")
            continue
        if role != want:
            raise InputError(
                f"messages[{i}]: expected a '{want}' message here (user and assistant must "
                "alternate, starting with user)"
            )
        if role == "user":
            parts.append(_USER.format(content=content))
            want = "assistant"
        else:
            parts.append(content + "\n\n")
            want = "user"
    if want != "assistant":
        raise InputError("messages: the last message must be from the user")
    return "".join(parts)



# --- incremental detokenisation ----------------------------------------------------------------


class IncrementalText:
    """Turn a growing list of token ids into text deltas that are safe to send.

    A delta never ends inside a UTF-8 character (the decoded tail ending in U+FFFD is held
    back) nor inside a possible stop string; when a stop string appears, the text is cut
    before it and :meth:`push` returns False.

    Examples
    --------
    >>> class Bytes:  # a toy tokenizer: one token per byte
    ...     def decode(self, ids):
    ...         return bytes(ids).decode("utf-8", errors="replace")
    >>> inc = IncrementalText(Bytes(), stop=["。"])
    >>> [inc.push(b) for b in "森。".encode()], inc.deltas
    ([True, True, True, True, True, False], ['森'])
    """

    def __init__(self, tokenizer: Any, stop: Sequence[str] = ()) -> None:
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        self.ids: list[int] = []
        self.sent = ""
        self.deltas: list[str] = []
        self.stopped = False
        # Decoded so far: ``_text`` is the text of ids[:_read]; only the window ids[_prefix:]
        # is decoded per token (decoding from _prefix, one settled token back, keeps what a
        # tokenizer does at the start of a text, e.g. dropping a leading space, the same in
        # both decodes, so their difference is exactly the new text).
        self._text = ""
        self._prefix = 0
        self._read = 0
        self._head = ""  # decode(ids[_prefix:_read])

    def _decoded(self) -> str:
        """Text of all ids, decoding only the ids since the last settled point."""
        tail = str(self.tokenizer.decode(self.ids[self._prefix :]))
        if not tail.startswith(self._head):  # a decoder that is not concatenative here
            return str(self.tokenizer.decode(self.ids))
        text = self._text + tail[len(self._head) :]
        if not tail.endswith("\ufffd"):  # settled: move the window up
            self._text = text
            self._prefix, self._read = self._read, len(self.ids)
            self._head = str(self.tokenizer.decode(self.ids[self._prefix : self._read]))
        return text

    def _emit(self, upto: str) -> None:
        if len(upto) > len(self.sent) and upto.startswith(self.sent):
            self.deltas.append(upto[len(self.sent) :])
            self.sent = upto

    def _cut_at_stop(self, text: str) -> bool:
        """Emit ``text`` up to the first stop string in it; True if there was one."""
        if not self.stop:
            return False
        start = max(0, len(self.sent) - max(len(s) for s in self.stop))
        hits = [i for i in (text.find(s, start) for s in self.stop) if i >= 0]
        if not hits:
            return False
        self._emit(text[: min(hits)])
        self.stopped = True
        return True

    def push(self, token_id: int) -> bool:
        """Add a token; return False once a stop string has been reached."""
        if self.stopped:
            return False
        self.ids.append(int(token_id))
        # An incomplete UTF-8 tail decodes to U+FFFD and may still change: leave it out.
        stable = self._decoded().rstrip("\ufffd")
        if self._cut_at_stop(stable):
            return False
        hold = 0
        for s in self.stop:  # hold back a tail that could still grow into a stop string
            hold = max(
                [hold, *(k for k in range(1, min(len(s), len(stable) + 1))
                         if stable.endswith(s[:k]))]
            )
        # Cutting off a held-back tail can expose a U+FFFD of an invalid byte before it; hold
        # that too, it is sent with the next delta or the final flush.
        self._emit(stable[: len(stable) - hold].rstrip("\ufffd"))
        return True

    def finish(self) -> str:
        """Flush what was held back (unless stopped); return the whole text."""
        if not self.stopped:
            full = self._decoded()
            if not self._cut_at_stop(full):
                self._emit(full)
        return self.sent

    def take(self) -> list[str]:
        """Deltas produced since the last call."""
        out, self.deltas = self.deltas, []
        return out

