"""``yotsuba slm corpus``: prepare a training corpus from documents or the built-in one.

The command and its ``--pii-pattern NAME=REGEX`` parser; the work is
:func:`yotsuba.slm.corpus.prepare_corpus`. :mod:`yotsuba.slm.cli` registers the command; heavy
imports (torch, transformers) stay inside the functions so that ``yotsuba --help`` stays fast.
"""

from __future__ import annotations

import typer


def _corpus_patterns(items: list[str] | None) -> dict[str, str]:
    from yotsuba.core.errors import InputError

    patterns: dict[str, str] = {}
    for item in items or []:
        name, sep, regex = item.partition("=")
        if not sep or not name or not regex:
            raise InputError(
                f"--pii-pattern {item!r}: use NAME=REGEX, e.g. "
                "--pii-pattern 'EMPLOYEE_ID=E-\\d{5}'"
            )
        import re

        try:
            re.compile(regex)
        except re.error as exc:
            raise InputError(f"--pii-pattern {name}: invalid regular expression ({exc})") from None
        patterns[name.strip().upper()] = regex
    return patterns


def corpus_cmd(
    inputs: list[str] | None = typer.Argument(
        None, help="Files or directories (.txt .md .html .jsonl .pdf). None: the built-in corpus."
    ),
    out: str = typer.Option(..., "--out", help="Corpus directory: corpus.jsonl + report.json."),
    mask_pii: bool = typer.Option(
        True, "--mask-pii/--no-mask-pii", help="Mask personal data with typed placeholders."
    ),
    pii_types: list[str] | None = typer.Option(
        None, "--pii-type", help="Mask only these types (repeatable): MY_NUMBER, PHONE, ..."
    ),
    pii_patterns: list[str] | None = typer.Option(
        None,
        "--pii-pattern",
        metavar="NAME=REGEX",
        help="Extra detector, e.g. EMPLOYEE_ID=E-\\d{5}.",
    ),
    mapping: str | None = typer.Option(
        None, "--mapping", help="Write placeholder -> original (0600) here, outside --out."
    ),
    dedup_threshold: float = typer.Option(
        0.8, "--dedup-threshold", help="Jaccard similarity (char 5-grams) of near-duplicates."
    ),
    min_chars: int = typer.Option(50, "--min-chars", help="Drop documents shorter than this."),
    text_field: str = typer.Option("text", "--text-field", help="JSONL field with the text."),
    sentence_per_line: bool = typer.Option(
        False, "--sentence-per-line", help="Write one sentence per line."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing corpus.jsonl."),
    seed: int = typer.Option(0, "--seed", help="Seed of the built-in corpus and of MinHash."),
    n_docs: int | None = typer.Option(
        None, "--n-docs", help="Built-in corpus size in documents (default 300)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Prepare a training corpus: read, normalise, filter, de-duplicate, mask PII."""
    import json
    import sys

    from yotsuba.slm.corpus import prepare_corpus

    res = prepare_corpus(
        inputs or None,
        out,
        mask_pii=mask_pii,
        pii_types=[t.upper() for t in pii_types] if pii_types else None,
        extra_pii_patterns=_corpus_patterns(pii_patterns),
        mapping_path=mapping,
        dedup_threshold=dedup_threshold,
        min_chars=min_chars,
        text_field=text_field,
        sentence_per_line=sentence_per_line,
        force=force,
        seed=seed,
        n_default_docs=n_docs,
    )
    rep = res.report
    if as_json:
        sys.stdout.write(json.dumps(rep, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    files = rep["files"]
    dup = rep["duplicates"]
    pii = rep["pii"]
    table = Table(title=f"corpus: {res.out_dir}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    src = rep["source"]
    rows = [
        (
            "source",
            "built-in maintenance corpus (no input given; "
            f"seed {src['seed']}, {src['n_docs']} documents)"
            if src["kind"] == "default_corpus"
            else ", ".join(src["inputs"]),
        ),
        ("files read", str(files["files_read"])),
        (
            "files skipped",
            ", ".join(f"{k} {v}" for k, v in files["files_skipped"].items()) or "none",
        ),
        ("documents read", f"{rep['documents_read']} ({rep['characters_read']:,} chars)"),
        ("filtered", ", ".join(f"{k} {v}" for k, v in rep["filtered"].items()) or "none"),
        (
            "duplicates removed",
            f"{dup['exact_removed']} exact, {dup['near_removed']} near "
            f"(J >= {dup['threshold']}, {dup['bands']} bands x {dup['rows']} rows)",
        ),
        (
            "PII masked",
            (", ".join(f"{k} {v}" for k, v in pii["masked"].items()) or "none")
            if pii["enabled"]
            else "off",
        ),
        (
            "documents written",
            f"{rep['documents']} ({rep['characters']:,} chars, {rep['sentences']:,} sentences)",
        ),
        ("speed", f"{rep['documents_per_s']} documents/s"),
    ]
    if pii["mapping_path"]:
        rows.append(("mapping (secret)", str(pii["mapping_path"])))
    for k, v in rows:
        table.add_row(k, v)
    Console(stderr=True).print(table)
    typer.echo(str(res.out_dir))
