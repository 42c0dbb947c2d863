"""Settings: precedence, coercion, errors, masking, and the documented example file."""

from __future__ import annotations

from pathlib import Path

import pytest

from wirexa import config
from wirexa.errors import ConfigError

EXAMPLE = Path(__file__).parent.parent / "config" / "wirexa.example.toml"


def test_defaults(tmp_path: Path) -> None:
    s = config.load(overrides={"data_dir": str(tmp_path)}, env={})
    assert s.port == 5000 and s.host == "0.0.0.0"
    assert s.webhook_schedule == (0.0, 60.0, 300.0, 900.0)
    assert s.db_url == f"sqlite:///{tmp_path / 'wirexa.db'}"


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text('port = 6000\nhost = "127.0.0.1"\n[sip]\ntrunk_host = "file.example:5060"\nworkers_max = 3\n')
    s = config.load(cfg, env={"WIREXA_PORT": "7000", "WIREXA_SIP_WORKERS_MAX": "5"}, overrides={"port": 8000, "host": None})
    assert s.port == 8000  # flag beats env beats file
    assert s.sip_workers_max == 5  # env beats file
    assert s.host == "127.0.0.1" and s.sip_trunk_host == "file.example:5060"  # file beats default
    assert s.config_file == str(cfg)


def test_config_file_found_in_data_dir(tmp_path: Path) -> None:
    (tmp_path / "wirexa.toml").write_text("port = 6100\n")
    assert config.load(env={"WIREXA_DATA_DIR": str(tmp_path)}).port == 6100


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[nope]\nx = 1\n", {}, "unknown section"),
        ("bogus = 1\n", {}, "unknown setting"),
        ("port = 'abc'\n", {}, "port must be int"),
        ("port = = 1\n", {}, "cannot read config file"),
        ("", {"WIREXA_SIP_TRUNK_REGISTER": "maybe"}, "must be bool"),
        ("[webhooks]\nschedule_s = 'a,b'\n", {}, "not a list of seconds"),
    ],
)
def test_bad_config_is_a_config_error(tmp_path: Path, text: str, env: dict[str, str], message: str) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message):
        config.load(cfg, env=env)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "missing.toml", env={})


def test_secret_is_masked(tmp_path: Path) -> None:
    s = config.load(overrides={"data_dir": str(tmp_path), "sip_trunk_password": "hunter2"}, env={})
    assert s.sip_trunk_password == "hunter2"
    assert "hunter2" not in repr(s)


def test_example_file_documents_every_setting() -> None:
    text = EXAMPLE.read_text()
    assert text == config.example_toml(), "regenerate config/wirexa.example.toml from config.example_toml()"
    for setting in config.SETTINGS:
        key = setting.name.split("_", 1)[1] if setting.name.split("_", 1)[0] in config.SECTIONS else setting.name
        assert f"\n{key} = " in text and setting.help in text
    assert config.load(EXAMPLE, env={}).port == 5000  # and it loads
