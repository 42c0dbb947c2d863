"""`wirexa doctor`'s speech recognizer lines: one per provider, configured or not and why; a half
configured one fails naming the missing setting; vosk's model directory must exist; pocketsphinx's
bundled model is found; a configured provider left out of [stt] providers is a warning."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_doctor import doctor, init, ports  # noqa: F401 - the ports fixture
from wirexa.cli.doctor import STT_PROVIDERS


def test_stt_lines_on_a_fresh_config(tmp_path: Path, ports: dict[str, str]) -> None:  # noqa: F811
    init(tmp_path, ports)
    code, checks = doctor(tmp_path, ports)
    assert code == 0, {n: c for n, c in checks.items() if c["status"] != "ok"}
    for name in STT_PROVIDERS[:-1]:
        assert (checks[f"STT {name}"]["status"], checks[f"STT {name}"]["detail"]) == ("ok", "not configured")
    pocketsphinx = checks["STT pocketsphinx"]
    assert pocketsphinx["status"] == "ok" and "en-US model" in pocketsphinx["detail"]
    assert Path(pocketsphinx["detail"].split()[3]).is_dir()


def test_half_configured_and_missing_models_fail(tmp_path: Path, ports: dict[str, str]) -> None:  # noqa: F811
    init(tmp_path, ports)
    model = tmp_path / "vosk-model-small-en-us"
    code, checks = doctor(
        tmp_path,
        {
            **ports,
            "WIREXA_STT_AMAZON_ACCESS_KEY_ID": "AKIASTT",
            "WIREXA_STT_AZURE_KEY": "azure-secret",
            "WIREXA_STT_DEEPGRAM_API_KEY": "dg-secret",
            "WIREXA_STT_GOOGLE_API_KEY": "g-secret",
            "WIREXA_STT_VOSK_MODEL_PATH": str(model),
            "WIREXA_STT_PROVIDERS": "deepgram,amazon,azure,vosk,pocketsphinx",
        },
    )
    assert code == 1
    amazon = checks["STT amazon"]
    assert amazon["status"] == "fail" and "amazon_secret_access_key" in amazon["detail"]
    assert "WIREXA_STT_AMAZON_SECRET_ACCESS_KEY" in amazon["fix"]
    assert checks["STT azure"]["status"] == "fail" and "azure_region" in checks["STT azure"]["fix"]
    assert (checks["STT deepgram"]["status"], checks["STT deepgram"]["detail"]) == ("ok", "API key set")
    google = checks["STT google"]
    assert google["status"] == "warn" and "not in [stt] providers" in google["detail"]
    vosk = checks["STT vosk"]
    assert vosk["status"] == "fail" and str(model) in vosk["detail"] and "does not exist" in vosk["detail"]
    for credential in ("AKIASTT", "azure-secret", "dg-secret", "g-secret"):
        assert credential not in json.dumps(checks)


def test_an_unknown_provider_name_fails(tmp_path: Path, ports: dict[str, str]) -> None:  # noqa: F811
    init(tmp_path, ports)
    code, checks = doctor(tmp_path, {**ports, "WIREXA_STT_PROVIDERS": "watson,pocketsphinx"})
    assert code == 1
    assert checks["STT providers"]["status"] == "fail" and "watson" in checks["STT providers"]["detail"]
