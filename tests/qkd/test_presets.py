"""Device presets load and stay in range; malformed device files fail with file:line and field.

Tests :mod:`yotsuba.qkd.device` (``preset_names``, ``load_preset``, ``load_device``) with the
built-in presets under ``src/yotsuba/qkd/presets/`` and with temporary YAML/TOML files, and the
``--set FIELD=VALUE`` overrides of :func:`yotsuba.core.config.with_overrides`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from yotsuba.core.config import with_overrides
from yotsuba.core.errors import ConfigError, InputError
from yotsuba.qkd.device import Device, channel_loss_db, load_device, load_preset, preset_names

# Presets the project ships; lim2014 is written alongside (finite-key brief).
EXPECTED_PRESETS = ("gys", "lim2014", "tokyo-qkd-2015", "toshiba-1ghz-2018")
CONTRACT_FIELDS = (
    "fiber_loss_db_per_km",
    "extra_loss_db",
    "detector_efficiency",
    "dark_count_probability",
    "afterpulse_probability",
    "misalignment_error",
    "ec_efficiency",
    "clock_rate_hz",
)


def _preset_text(name: str) -> str:
    return (resources.files("yotsuba.qkd") / "presets" / f"{name}.yaml").read_text("utf-8")


def test_preset_names_lists_every_shipped_preset() -> None:
    names = preset_names()
    missing = [n for n in EXPECTED_PRESETS if n not in names]
    assert not missing, f"presets missing: {missing}; found {names}"
    assert names == sorted(names)


@pytest.mark.parametrize("name", EXPECTED_PRESETS)
def test_preset_loads_with_source_and_in_range(name: str) -> None:
    dev = load_preset(name)
    assert dev.name == name
    assert dev.source.strip(), "every preset must cite its source"
    # The Device ranges, restated here so that a loosened validator cannot hide a bad preset.
    assert 0.0 <= dev.fiber_loss_db_per_km <= 1.0  # any real telecom fibre: < 1 dB/km
    assert 0.0 <= dev.extra_loss_db <= 200.0
    assert 0.0 < dev.detector_efficiency <= 1.0
    assert 0.0 <= dev.dark_count_probability < 1e-3  # per gate; larger would swamp any link
    assert 0.0 <= dev.afterpulse_probability < 0.2
    assert 0.0 <= dev.misalignment_error <= 0.5
    assert 1.0 <= dev.ec_efficiency <= 3.0
    assert 0.0 < dev.clock_rate_hz <= 1e12


@pytest.mark.parametrize("name", EXPECTED_PRESETS)
def test_preset_sets_every_field_with_a_comment(name: str) -> None:
    """Presets are data with provenance: every contract field is written out and commented."""
    lines = _preset_text(name).splitlines()
    for field in CONTRACT_FIELDS:
        hits = [ln for ln in lines if ln.startswith(f"{field}:")]
        assert len(hits) == 1, f"{name}.yaml: {field} must appear exactly once"
        assert "#" in hits[0], f"{name}.yaml: {field} needs a comment with its source"


def test_tokyo_preset_reproduces_the_link_loss() -> None:
    """The Tokyo QKD Network's Koganei-Otemachi link: 45 km with 14.5 dB of loss.

    Source: Toshiba Research Europe, "World record QKD bit rates" (45-km link, 14.5 dB), the
    link of Dixon et al., Opt. Express 23, 7583 (2015). Tolerance 0.01 dB: the per-km figure
    is rounded to 4 decimals (45 km x 5e-5 dB/km = 2.3e-3 dB).
    """
    dev = load_preset("tokyo-qkd-2015")
    assert channel_loss_db(dev, 45.0) == pytest.approx(14.5, abs=0.01)
    assert dev.clock_rate_hz == 1e9


def test_toshiba_2018_preset_gives_the_2_db_channel_at_10_km() -> None:
    """Yuan et al., JLT 36, 3427 (2018), abstract: the 13.72 Mb/s record was over a 2 dB channel."""
    dev = load_preset("toshiba-1ghz-2018")
    assert channel_loss_db(dev, 10.0) == pytest.approx(2.0, abs=1e-9)
    assert dev.clock_rate_hz == 1e9


def test_unknown_preset_lists_the_choices() -> None:
    with pytest.raises(ConfigError) as info:
        load_preset("no-such-preset")
    msg = str(info.value)
    assert "no-such-preset" in msg
    for name in EXPECTED_PRESETS:
        assert name in msg


# --- malformed device files ------------------------------------------------------------------
GOOD_YAML = """\
name: my-link
fiber_loss_db_per_km: 0.2
detector_efficiency: 0.1
dark_count_probability: 1.0e-6
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_yaml_device_file_loads(tmp_path: Path) -> None:
    dev = load_device(_write(tmp_path, "dev.yaml", GOOD_YAML))
    assert dev.name == "my-link"
    assert dev.detector_efficiency == 0.1
    assert dev.misalignment_error == Device().misalignment_error  # unset fields keep defaults


def test_device_section_in_a_scenario_file(tmp_path: Path) -> None:
    text = "device:\n" + "".join(f"  {ln}\n" for ln in GOOD_YAML.splitlines())
    dev = load_device(_write(tmp_path, "scenario.yaml", text))
    assert dev.name == "my-link"


@pytest.mark.parametrize(
    ("text", "field", "line", "words"),
    [
        (GOOD_YAML + "detector_eficiency: 0.2\n", "detector_eficiency", 5, "unknown field"),
        (GOOD_YAML.replace("1.0e-6", "1.5"), "dark_count_probability", 4, "< 1"),
        (GOOD_YAML.replace("0.2\n", "-0.3\n"), "fiber_loss_db_per_km", 2, ">= 0"),
        (GOOD_YAML + "misalignment_error: 0.7\n", "misalignment_error", 5, "<= 0.5"),
        (GOOD_YAML + "clock_rate_hz: fast\n", "clock_rate_hz", 5, "fast"),
    ],
    ids=["unknown-field", "probability-1.5", "negative-loss", "misalignment-0.7", "not-a-number"],
)
def test_bad_yaml_value_names_file_line_and_field(
    tmp_path: Path, text: str, field: str, line: int, words: str
) -> None:
    path = _write(tmp_path, "dev.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_device(path)
    err = info.value
    assert err.field == field
    assert err.line == line
    assert err.path == str(path)
    msg = str(err)
    assert msg.startswith(f"{path}:{line}: {field}: ")
    assert words in msg
    assert "\n" not in msg  # one line
    assert isinstance(err, InputError)  # exit code 2 in the CLI


def test_bad_value_in_device_section_points_at_its_line(tmp_path: Path) -> None:
    text = "scenario: demo\ndevice:\n  name: x\n  afterpulse_probability: 1.2\n"
    path = _write(tmp_path, "scenario.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_device(path)
    assert info.value.field == "afterpulse_probability"
    assert info.value.line == 4


def test_yaml_syntax_error_names_its_line(tmp_path: Path) -> None:
    text = "name: x\nfiber_loss_db_per_km: 0.2\ndetector_efficiency: [0.1\nextra_loss_db: 1\n"
    path = _write(tmp_path, "dev.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_device(path)
    assert info.value.path == str(path)
    assert info.value.line is not None and 3 <= info.value.line <= 5
    assert "malformed YAML" in str(info.value)


def test_yaml_that_is_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_device(_write(tmp_path, "dev.yaml", "- 0.2\n- 0.1\n"))


def test_toml_device_file_loads_and_errors_name_the_line(tmp_path: Path) -> None:
    good = 'name = "t"\nfiber_loss_db_per_km = 0.2\ndetector_efficiency = 0.3\n'
    assert load_device(_write(tmp_path, "dev.toml", good)).detector_efficiency == 0.3

    bad = good + "detector_efficiency_x = 0.5\n"
    with pytest.raises(ConfigError) as info:
        load_device(_write(tmp_path, "bad.toml", bad))
    assert info.value.field == "detector_efficiency_x"
    assert info.value.line == 4

    negative = 'name = "t"\nextra_loss_db = -1.0\n'
    with pytest.raises(ConfigError) as info:
        load_device(_write(tmp_path, "neg.toml", negative))
    assert info.value.field == "extra_loss_db"
    assert info.value.line == 2

    broken = 'name = "t"\nfiber_loss_db_per_km = = 0.2\n'
    with pytest.raises(ConfigError) as info:
        load_device(_write(tmp_path, "broken.toml", broken))
    assert info.value.line == 2
    assert "malformed TOML" in str(info.value)


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_device(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="unknown config format"):
        load_device(_write(tmp_path, "dev.ini", "x=1\n"))


# --- --set overrides -------------------------------------------------------------------------
def test_set_overrides_change_only_the_named_fields() -> None:
    base = load_preset("tokyo-qkd-2015")
    dev = with_overrides(base, ["extra_loss_db=3", "dark_count_probability=1e-6"])
    assert dev.extra_loss_db == 3.0
    assert dev.dark_count_probability == 1e-6
    unchanged = {k: v for k, v in dev.model_dump().items()
                 if k not in ("extra_loss_db", "dark_count_probability")}
    assert unchanged == {k: v for k, v in base.model_dump().items() if k in unchanged}
    assert base.extra_loss_db == 0.0  # presets are immutable values
    assert channel_loss_db(dev, 45.0) == pytest.approx(17.5, abs=0.01)


def test_set_with_no_items_returns_the_same_device() -> None:
    base = load_preset("gys")
    assert with_overrides(base, []) is base


@pytest.mark.parametrize(
    ("item", "field", "words"),
    [
        ("detector_effciency=0.2", "detector_effciency", "allowed fields"),
        ("misalignment_error=0.6", "misalignment_error", "<= 0.5"),
        ("dark_count_probability=1.5", "dark_count_probability", "< 1"),
        ("fiber_loss_db_per_km=-0.1", "fiber_loss_db_per_km", ">= 0"),
    ],
)
def test_bad_set_override_names_the_option_and_field(item: str, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        with_overrides(load_preset("gys"), [item])
    assert info.value.field == field
    assert info.value.path == "--set"
    assert words in str(info.value)


def test_set_item_without_equals_is_rejected() -> None:
    with pytest.raises(ConfigError, match="FIELD=VALUE"):
        with_overrides(load_preset("gys"), ["extra_loss_db"])
