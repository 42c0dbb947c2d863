"""Settings: defaults < TOML < WIREXA_* env < overrides (CLI flags), coercion, errors, masking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wirexa import config
from wirexa.errors import ConfigError


def sample(setting: config.Setting, n: int) -> Any:
    """A valid non-default value of the setting's type (n makes layers differ)."""
    if setting.type is bool:
        return not setting.default
    if setting.type is int:
        return 1000 + n
    if setting.type is float:
        return 0.5 + n
    if setting.name == "webhooks_schedule_s":
        return f"{n},1,2"
    if setting.name in ("calls_allowed_countries", "sip_trunk_country_code"):
        return f"{n}{n}"  # E.164 prefixes (config.check_prefixes)
    if setting.name == "sip_inbound_number_from":
        return ("to", "request-uri", "to")[n - 1]  # config.check_choice
    if setting.name == "sip_jitter_discard":
        return ("progressive", "none", "progressive")[n - 1]
    if setting.name == "sip_phones_voice_method":
        return ("GET", "POST", "GET")[n - 1]
    if setting.name == "sip_inbound_allowed":
        return f"10.{n}.0.0/16"  # config.check_cidrs
    return f"/value/{n}"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return f'"{value}"'


def test_defaults(tmp_path: Path) -> None:
    s = config.load(overrides={"data_dir": str(tmp_path)}, env={})
    assert (
        s.port == 5000 and s.host == "127.0.0.1" and s.api_rate_limit_per_s == 100.0
    )  # loopback unless exposed on purpose
    assert s.webhook_schedule == (0.0, 60.0, 300.0, 900.0)
    assert s.db_url == f"sqlite:///{tmp_path / 'wirexa.db'}"
    assert s.recordings_path == tmp_path / "recordings" and s.base_url == "http://127.0.0.1:5000"
    assert s.config_file == ""
    sized = config.machine_sizing(s.sip_port_base, s.sip_rtp_port_base, sandbox=True)
    for setting in config.SETTINGS[1:]:
        if setting.name in config.MACHINE_SIZED:  # 0: sized from the machine at load
            assert setting.default == 0
            continue
        assert getattr(s, setting.name) == setting.default, setting.name
    assert (s.sip_workers_max, s.calls_max_concurrent) == (sized.workers_max, sized.calls_max)


def test_every_setting_through_every_layer(tmp_path: Path) -> None:
    """Each setting is read from its TOML key (in its section), from WIREXA_<NAME>, and from an
    override, each layer beating the one below."""
    lines: dict[str | None, list[str]] = {}
    for s in config.SETTINGS:
        head, _, rest = s.name.partition("_")
        section, key = (head, rest) if head in config.SECTIONS else (None, s.name)
        lines.setdefault(section, []).append(f"{key} = {toml_value(sample(s, 1))}")
    text = (
        "\n".join(lines.pop(None))
        + "\n"
        + "".join(f"[{sec}]\n" + "\n".join(body) + "\n" for sec, body in lines.items())
    )
    cfg = tmp_path / "all.toml"
    cfg.write_text(text)
    from_file = config.load(cfg, env={})
    env = {
        f"WIREXA_{s.name.upper()}": str(sample(s, 2)).lower() if s.type is bool else str(sample(s, 2))
        for s in config.SETTINGS
    }
    from_env = config.load(cfg, env=env)
    overrides = {s.name: sample(s, 3) for s in config.SETTINGS}
    from_flags = config.load(cfg, env=env, overrides=overrides)
    for s in config.SETTINGS:
        assert getattr(from_file, s.name) == sample(s, 1), s.name
        assert getattr(from_env, s.name) == sample(s, 2), s.name
        assert getattr(from_flags, s.name) == sample(s, 3), s.name
        assert type(getattr(from_flags, s.name)) is s.type, s.name


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text('port = 6000\nhost = "127.0.0.1"\n[sip]\ntrunk_host = "file.example:5060"\nworkers_max = 3\n')
    s = config.load(
        cfg, env={"WIREXA_PORT": "7000", "WIREXA_SIP_WORKERS_MAX": "5"}, overrides={"port": 8000, "host": None}
    )
    assert s.port == 8000  # flag beats env beats file
    assert s.sip_workers_max == 5  # env beats file
    assert s.host == "127.0.0.1" and s.sip_trunk_host == "file.example:5060"  # file beats default; a None flag is unset
    assert s.config_file == str(cfg)


def test_config_file_found_in_data_dir_or_named_by_env(tmp_path: Path) -> None:
    (tmp_path / "wirexa.toml").write_text("port = 6100\n")
    assert config.load(env={"WIREXA_DATA_DIR": str(tmp_path)}).port == 6100
    assert config.load(env={}, overrides={"data_dir": str(tmp_path)}).port == 6100
    other = tmp_path / "other.toml"
    other.write_text("port = 6200\n")
    assert config.load(env={"WIREXA_DATA_DIR": str(tmp_path), "WIREXA_CONFIG": str(other)}).port == 6200
    assert config.load(other, env={"WIREXA_CONFIG": str(tmp_path / "wirexa.toml")}).port == 6200  # the argument wins
    with pytest.raises(ConfigError, match="WIREXA_CONFIG"):
        config.load(env={"WIREXA_CONFIG": str(tmp_path / "missing.toml")})


def test_coercion(tmp_path: Path) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text("api_rate_limit_per_s = 3\n[sip]\ntrunk_register = true\n")
    s = config.load(cfg, env={"WIREXA_SIP_TRUNK_PAI": "Yes", "WIREXA_SANDBOX_ENABLED": "off"})
    assert s.api_rate_limit_per_s == 3.0 and isinstance(s.api_rate_limit_per_s, float)
    assert s.sip_trunk_register is True and s.sip_trunk_pai is True and s.sandbox_enabled is False


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[nope]\nx = 1\n", {}, r"unknown section \[nope\]"),
        ("bogus = 1\n", {}, "unknown setting 'bogus'"),
        ("[sip]\nbogus = 1\n", {}, "unknown setting 'sip_bogus'"),
        ("trunk_host = 'x'\n", {}, "unknown setting 'trunk_host'"),  # a section key at the top level
        ("port = 'abc'\n", {}, "port must be int"),
        ("port = true\n", {}, "port must be int"),
        ("host = [1]\n", {}, "host must be str"),
        ("port = = 1\n", {}, "cannot read config file"),
        ("", {"WIREXA_SIP_TRUNK_REGISTER": "maybe"}, "WIREXA_SIP_TRUNK_REGISTER: sip_trunk_register must be bool"),
        ("", {"WIREXA_PORT": "50OO"}, "WIREXA_PORT: port must be int"),
        ("[webhooks]\nschedule_s = 'a,b'\n", {}, "not a list of seconds"),
        ("[webhooks]\nschedule_s = '5,-1'\n", {}, "non-negative"),
        ("[sip]\nworkers_min = 0\n", {}, r"sip.workers_min must be 1 to sip.workers_max"),
        ("[sip]\nworkers_max = 2\nworkers_min = 3\n", {}, r"sip.workers_min must be 1 to sip.workers_max \(2\)"),
    ],
)
def test_bad_config_is_a_config_error(tmp_path: Path, text: str, env: dict[str, str], message: str) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message):
        config.load(cfg, env=env)


def test_unknown_override_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'nope'"):
        config.load(env={}, overrides={"nope": 1})
    with pytest.raises(ConfigError, match="--port: port must be int"):
        config.load(env={}, overrides={"port": "x"})


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "missing.toml", env={})


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = config.load(overrides={"data_dir": str(tmp_path)}, env={})
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]  # what the test is about


def test_secret_is_masked(tmp_path: Path) -> None:
    s = config.load(overrides={"data_dir": str(tmp_path), "sip_trunk_password": "hunter2"}, env={})
    assert s.sip_trunk_password == "hunter2" and isinstance(s.sip_trunk_password, config.Secret)
    assert "hunter2" not in repr(s) and "hunter2" not in repr(s.sip_trunk_password)
    assert repr(s.sip_trunk_password) == "Secret('****')" and repr(config.Secret("")) == "Secret('')"
    from_env = config.load(env={"WIREXA_SIP_TRUNK_PASSWORD": "s3cret"}, overrides={"data_dir": str(tmp_path)})
    assert isinstance(from_env.sip_trunk_password, config.Secret) and "s3cret" not in repr(from_env)
    cfg = tmp_path / "w.toml"
    cfg.write_text('[sip]\ntrunk_password = "t0ml"\n')
    assert "t0ml" not in repr(config.load(cfg, env={}))


def test_database_url_and_paths(tmp_path: Path) -> None:
    s = config.load(
        env={},
        overrides={
            "data_dir": str(tmp_path),
            "database_url": "postgresql://u@h/db",
            "recordings_dir": str(tmp_path / "r"),
            "public_url": "https://x.example/",
        },
    )
    assert (
        s.db_url == "postgresql://u@h/db" and s.recordings_path == tmp_path / "r" and s.base_url == "https://x.example"
    )


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("WIREXA_SIP_INBOUND_NUMBER_FROM", "from", "sip.inbound_number_from must be one of request-uri, to"),
        ("WIREXA_SIP_PHONES_VOICE_METHOD", "PUT", "sip.phones_voice_method must be one of GET, POST"),
        ("WIREXA_SIP_INBOUND_ALLOWED", "127.0.0.1/32, carrier.example", "'carrier.example' is not an address"),
        ("WIREXA_SIP_JITTER_DISCARD", "adaptive", "sip.jitter_discard must be one of static, progressive, none"),
    ],
)
def test_inbound_settings_are_checked_at_load(key: str, value: str, said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        config.load(env={key: value})
