"""CLI tests of `yotsuba qkd distill` and `yotsuba qkd postprocess`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from yotsuba.cli import main
from yotsuba.qkd.device import channel_loss_db, load_preset
from yotsuba.qkd.distill import protocol_parameters
from yotsuba.qkd.keyfile import split_records, write_raw_key
from yotsuba.qkd.raw_key import simulate


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_distill_json_has_the_contract_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys,
        "qkd",
        "distill",
        "--preset",
        "lim2014",
        "--distance-km",
        "20",
        "--pulses",
        "5e7",
        "--seed",
        "3",
        "--reconciliation",
        "cascade",
        "--json",
    )
    assert code == 0
    doc = json.loads(out)
    for key in (
        "sifted_bits",
        "qber",
        "leaked_bits",
        "ec_efficiency",
        "final_key_bits",
        "keys_match",
        "aborted",
        "abort_reason",
        "stages",
    ):
        assert key in doc, key
    assert doc["keys_match"] is True and doc["aborted"] is False
    assert doc["abort_reason"] is None
    pa = doc["privacy_amplification"]  # the default hash: (I | T') over GF(65537)
    n_sym = -(-doc["sifted_bits"] // 16)
    assert pa["family"] == "toeplitz-gf65537" and pa["seed_bits"] == 17 * (n_sym - 1)
    assert doc["final_key_bits"] == 16 * (pa["hash_symbols"] - pa["reserve_symbols"])
    for stage in ("sifting", "error_correction", "verification", "privacy_amplification"):
        assert set(doc["stages"][stage]) >= {"seconds", "mbit_per_s"}
    assert doc["ec_efficiency"] == pytest.approx(
        doc["leaked_bits"] / (doc["sifted_bits"] * _h(doc["qber_x"])), rel=1e-9
    )


def _h(p: float) -> float:
    return float(-p * np.log2(p) - (1 - p) * np.log2(1 - p))


def test_distill_writes_run_with_identical_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys,
        "qkd",
        "distill",
        "--preset",
        "lim2014",
        "--distance-km",
        "10",
        "--pulses",
        "3e7",
        "--seed",
        "1",
        "--out",
        str(tmp_path),
    )
    assert code == 0, err
    run = Path(out.strip().splitlines()[-1])
    a = (run / "alice.key").read_bytes()
    assert a == (run / "bob.key").read_bytes() and len(a) > 0
    manifest = json.loads((run / "manifest.json").read_text())
    assert (
        manifest["result"]["final_key_bits"]
        <= 8 * len(a)
        < manifest["result"]["final_key_bits"] + 8
    )
    assert "keys match" in err
    assert re.search(r"PA hash\s+│\s+toeplitz-gf65537, seed [\d,]+ bits", err), err


def test_distill_abort_is_a_record_not_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        capsys,
        "qkd",
        "distill",
        "--preset",
        "lim2014",
        "--distance-km",
        "5",
        "--pulses",
        "3e7",
        "--set",
        "misalignment_error=0.2",
        "--json",
        "--out",
        str(tmp_path),
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["aborted"] is True and "abort threshold" in doc["abort_reason"]
    assert doc["final_key_bits"] == 0 and doc["keys_match"] is False
    run = Path(doc["run_dir"])
    assert not (run / "alice.key").exists() and not (run / "bob.key").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--pulses", "-5"], "--pulses"),
        (["--pulses", "1e6", "--reconciliation", "turbo"], "--reconciliation"),
        (["--pulses", "1e6", "--latency-ms", "-1"], "--latency-ms"),
        (["--pulses", "1e6", "--channel", "udp"], "--channel"),
        (["--pulses", "1e6", "--pa-hash", "sha256"], "--pa-hash"),
        (["--pulses", "1e6", "--set", "misalignment_error=0.7"], "misalignment_error"),
    ],
)
def test_distill_bad_input_exit_2_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code, out, err = run_cli(
        capsys, "qkd", "distill", "--preset", "lim2014", "--distance-km", "5", *args
    )
    assert code == 2 and out == ""
    assert needle in err and len(err.strip().splitlines()) == 1


def _raw_files(tmp_path: Path, pulses: int = 3 * 10**7) -> tuple[Path, Path]:
    dev = load_preset("lim2014")
    loss = channel_loss_db(dev, 10.0)
    params, _ = protocol_parameters(dev, loss, pulses)
    records = simulate(dev, loss, params, pulses, np.random.default_rng(4))
    alice, bob = split_records(records)
    return write_raw_key(tmp_path / "alice.yqk", alice), write_raw_key(tmp_path / "bob.yqk", bob)


def test_postprocess_raw_files_to_final_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _raw_files(tmp_path)
    out_dir = tmp_path / "runs"
    code, out, err = run_cli(
        capsys,
        "qkd",
        "postprocess",
        "--alice",
        str(a),
        "--bob",
        str(b),
        "--out",
        str(out_dir),
        "--seed",
        "2",
        "--json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["keys_match"] and not doc["aborted"] and doc["final_key_bits"] > 0
    run = Path(doc["run_dir"])
    assert (run / "alice.key").read_bytes() == (run / "bob.key").read_bytes()


def test_postprocess_corrupt_file_exit_2_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _raw_files(tmp_path, 10**6)
    data = bytearray(b.read_bytes())
    data[0:8] = b"NOTAKEY!"
    b.write_bytes(bytes(data))
    out_dir = tmp_path / "runs"
    code, out, err = run_cli(
        capsys, "qkd", "postprocess", "--alice", str(a), "--bob", str(b), "--out", str(out_dir)
    )
    assert code == 2 and out == ""
    assert "bob.yqk" in err and len(err.strip().splitlines()) == 1
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def test_postprocess_files_of_different_runs_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, _ = _raw_files(tmp_path, 10**6)
    (tmp_path / "other").mkdir()
    _, b2 = _raw_files(tmp_path / "other", 2 * 10**6)
    code, _, err = run_cli(
        capsys,
        "qkd",
        "postprocess",
        "--alice",
        str(a),
        "--bob",
        str(b2),
        "--out",
        str(tmp_path / "runs"),
    )
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_raw_key_command_then_postprocess(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys,
        "qkd",
        "raw-key",
        "--preset",
        "lim2014",
        "--distance-km",
        "10",
        "--pulses",
        "3e7",
        "--seed",
        "8",
        "--out",
        str(tmp_path / "raw"),
        "--json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["detections"] > 0 and doc["predicted_key_bits"] > 0
    code, out, err = run_cli(
        capsys,
        "qkd",
        "postprocess",
        "--alice",
        doc["alice"],
        "--bob",
        doc["bob"],
        "--out",
        str(tmp_path / "runs"),
        "--reconciliation",
        "cascade-option7",
        "--json",
    )
    assert code == 0, err
    res = json.loads(out)
    assert res["keys_match"] and res["final_key_bits"] > 0
    # The files are never overwritten.
    code, _, err = run_cli(
        capsys,
        "qkd",
        "raw-key",
        "--preset",
        "lim2014",
        "--distance-km",
        "10",
        "--pulses",
        "1e6",
        "--out",
        str(tmp_path / "raw"),
    )
    assert code == 2 and "never overwritten" in err
