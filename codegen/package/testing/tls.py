"""A throwaway CA and a loopback server certificate, made at start-up for ``tls=True``.

Why a CA and not a bare self-signed leaf: clients that verify (requests with REQUESTS_CA_BUNDLE, urllib3
with ``ca_certs``) need a CA file to trust, and the leaf carries ``127.0.0.1``/``localhost`` SANs so
hostname checks pass. Uses the optional ``cryptography`` package when installed, else the ``openssl`` CLI —
no new runtime dependency.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import attrs

__all__ = ["Certificates", "make_certificates"]


@attrs.frozen
class Certificates:
    """Paths of the generated files."""

    ca_file: str
    cert_file: str
    key_file: str


def make_certificates(directory: str | None = None, host: str = "127.0.0.1") -> Certificates:
    """Create ``ca.pem``, ``server.pem`` and ``server.key`` in ``directory`` (a new temp dir by default)."""
    target = Path(directory or tempfile.mkdtemp(prefix="b24crm-emulator-tls-"))
    target.mkdir(parents=True, exist_ok=True)
    try:
        return _with_cryptography(target, host)
    except ImportError:
        pass
    if shutil.which("openssl") is None:
        raise RuntimeError("tls=True needs the 'cryptography' package or the openssl command line tool")
    return _with_openssl(target, host)


def _with_openssl(target: Path, host: str) -> Certificates:
    ca_key, ca_pem = target / "ca.key", target / "ca.pem"
    key, csr, pem, ext = target / "server.key", target / "server.csr", target / "server.pem", target / "san.cnf"
    sans = ["DNS:localhost", "IP:127.0.0.1", "IP:::1"]
    if host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0", ""):
        sans.append(f"IP:{host}" if host.replace(".", "").isdigit() else f"DNS:{host}")
    ext.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        f"extendedKeyUsage=serverAuth\nsubjectAltName={','.join(sans)}\n"
    )

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "30",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca_pem),
        "-subj",
        "/CN=b24crm emulator test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost")
    run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca_pem),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(pem),
        "-days",
        "30",
        "-extfile",
        str(ext),
    )
    return Certificates(str(ca_pem), str(pem), str(key))


def _with_cryptography(target: Path, host: str) -> Certificates:  # pragma: no cover - optional extra
    import importlib
    import ipaddress

    # Imported by name: ``cryptography`` is an optional extra, so neither mypy nor the runtime may require it.
    x509: Any = importlib.import_module("cryptography.x509")
    hashes: Any = importlib.import_module("cryptography.hazmat.primitives.hashes")
    serialization: Any = importlib.import_module("cryptography.hazmat.primitives.serialization")
    rsa: Any = importlib.import_module("cryptography.hazmat.primitives.asymmetric.rsa")
    oid: Any = importlib.import_module("cryptography.x509.oid")
    NameOID, ExtendedKeyUsageOID = oid.NameOID, oid.ExtendedKeyUsageOID

    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "b24crm emulator test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    names = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = target / "ca.pem", target / "server.pem", target / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Certificates(str(ca_file), str(cert_file), str(key_file))
