"""``tls=True``: a CA constrained to loopback names, no CA key kept, nothing left on disk after stop — on both
certificate paths (``cryptography``, the b24crm[tls] extra, and the ``openssl`` command line tool)."""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import b24crm.testing.emulator as emulator_module
from b24crm.testing import Emulator
from b24crm.testing.tls import make_certificates, permitted_names, remove_certificates
from tests.emulator.conftest import Portal

HAS_OPENSSL = shutil.which("openssl") is not None
BACKENDS = [
    pytest.param(
        "cryptography",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("cryptography") is None, reason="needs the b24crm[tls] extra (cryptography)"
        ),
    ),
    pytest.param("openssl", marks=pytest.mark.skipif(not HAS_OPENSSL, reason="needs the openssl command line tool")),
]
PERMITTED = ["DNS:localhost", "IP:127.0.0.0/255.0.0.0", "IP:0:0:0:0:0:0:0:1/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF"]


def openssl(*args: str) -> str:
    if not HAS_OPENSSL:
        pytest.skip("reading certificates needs the openssl command line tool")
    return subprocess.run(["openssl", *args], check=True, capture_output=True, text=True).stdout


def ca_extensions(ca_file: str) -> str:
    return openssl("x509", "-in", ca_file, "-noout", "-ext", "basicConstraints,keyUsage,nameConstraints")


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_ca_is_name_constrained_to_loopback_and_its_key_is_not_kept(backend: str) -> None:
    certs = make_certificates(backend=backend)
    try:
        assert sorted(os.listdir(certs.directory)) == ["ca.pem", "server.key", "server.pem"]
        assert b"PRIVATE KEY" not in Path(certs.ca_file).read_bytes()
        text = ca_extensions(certs.ca_file)
        assert "Basic Constraints: critical" in text and "CA:TRUE, pathlen:0" in text
        assert "Name Constraints: critical" in text
        permitted = text.split("Permitted:", 1)[1].split()
        assert permitted == PERMITTED, text
        assert "Excluded" not in text
        verified = openssl("verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", certs.ca_file, certs.cert_file)
        assert verified.strip().endswith(": OK")
    finally:
        remove_certificates(certs)
    assert not os.path.exists(certs.directory)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_tls_emulator_keeps_no_private_key_on_disk_and_removes_its_folder_at_stop(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator_module, "make_certificates", functools.partial(make_certificates, backend=backend))
    with Emulator(seed="empty", tls=True) as emu:
        assert emu.ca_file is not None
        folder = os.path.dirname(emu.ca_file)
        assert sorted(os.listdir(folder)) == ["ca.pem", "server.pem"]  # neither the CA's key nor the leaf's
        assert Portal(emu).ok("crm.settings.mode.get")["result"] == 1  # verified against the constrained CA
    assert not os.path.exists(folder)
    assert emu.ca_file is None


def test_a_failed_start_leaves_no_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []

    def recording(**kwargs: str) -> object:
        certs = make_certificates(**kwargs)
        made.append(certs.directory)
        return certs

    monkeypatch.setattr(emulator_module, "make_certificates", recording)
    with Emulator(seed="empty") as running:
        port = int(running.base_url.rsplit(":", 1)[1])
        with pytest.raises(OSError):
            Emulator(seed="empty", tls=True, port=port).start()  # the port is taken
    assert made and not os.path.exists(made[0])


def test_permitted_names_add_only_a_non_loopback_host() -> None:
    loopback = ["DNS:localhost", "IP:127.0.0.0/8", "IP:::1/128"]
    for host in ("127.0.0.1", "127.0.0.5", "localhost", "::1", "0.0.0.0"):
        assert permitted_names(host) == loopback, host
    assert permitted_names("10.1.2.3") == [*loopback, "IP:10.1.2.3/32"]
    assert permitted_names("portal.test") == [*loopback, "DNS:portal.test"]
