"""A throwaway CA and a loopback server certificate, made at start-up for ``tls=True``.

Why a CA and not a bare self-signed leaf: clients that verify (requests with REQUESTS_CA_BUNDLE, urllib3
with ``ca_certs``) need a CA file to trust, and the leaf carries ``127.0.0.1``/``localhost`` SANs so
hostname checks pass. Uses the optional ``cryptography`` package when installed (``b24crm[tls]``), else the
``openssl`` CLI — no new runtime dependency.

Why the CA is harmless to trust: a user may add ``ca.pem`` to a trust store, so the CA must not be able to
vouch for anything but this emulator. It is name-constrained (critical ``nameConstraints``) to loopback names
— DNS ``localhost`` (and names under it), IP ``127.0.0.0/8`` and ``::1`` — plus the one non-loopback host the
emulator was told to serve, if any; it may not sign other CAs (``pathlen:0``); and its private key is never
kept: the ``cryptography`` path holds it in memory only, the ``openssl`` path deletes it as soon as the leaf is
signed. The folder (``ca.pem``, ``server.pem``, ``server.key``) is removed by :func:`remove_certificates`,
which ``Emulator.stop()`` calls.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import attrs

__all__ = ["BACKENDS", "Certificates", "make_certificates", "permitted_names", "remove_certificates"]

#: ``make_certificates(backend=...)``: which tool makes the certificates (None: ``cryptography`` if installed).
BACKENDS = ("cryptography", "openssl")

_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0", "")


@attrs.frozen
class Certificates:
    """Paths of the generated files, all inside ``directory``. There is no CA key file."""

    ca_file: str
    cert_file: str
    key_file: str
    directory: str


def permitted_names(host: str = "127.0.0.1") -> list[str]:
    """The CA's permitted subtrees: ``DNS:localhost``, ``IP:127.0.0.0/8``, ``IP:::1/128``, plus ``host`` (as
    ``DNS:name`` or a one-address ``IP:a/32``/``/128``) when it is not a loopback name."""
    names = ["DNS:localhost", "IP:127.0.0.0/8", "IP:::1/128"]
    extra = _extra_name(host)
    if extra is not None:
        kind, value = extra
        names.append(f"IP:{ipaddress.ip_network(value)}" if kind == "IP" else f"DNS:{value}")
    return names


def _openssl_subtree(name: str) -> str:
    """``IP:127.0.0.0/8`` -> ``IP:127.0.0.0/255.0.0.0``: OpenSSL's config wants address/netmask."""
    kind, _, value = name.partition(":")
    if kind != "IP":
        return name
    network = ipaddress.ip_network(value)
    return f"IP:{network.network_address}/{network.netmask}"


def make_certificates(
    directory: str | None = None, host: str = "127.0.0.1", backend: str | None = None
) -> Certificates:
    """Create ``ca.pem``, ``server.pem`` and ``server.key`` in ``directory`` (a new temp dir by default)."""
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS} or None, not {backend!r}")
    target = Path(directory or tempfile.mkdtemp(prefix="b24crm-emulator-tls-"))
    target.mkdir(parents=True, exist_ok=True)
    try:
        if backend in (None, "cryptography"):
            try:
                return _with_cryptography(target, host)
            except ImportError:
                if backend == "cryptography":
                    raise RuntimeError("backend='cryptography' needs the package: pip install 'b24crm[tls]'") from None
        if shutil.which("openssl") is None:
            raise RuntimeError(
                "tls=True needs the 'cryptography' package (b24crm[tls]) or the openssl command line tool"
            )
        return _with_openssl(target, host)
    except BaseException:
        if directory is None:
            shutil.rmtree(target, ignore_errors=True)
        raise


def remove_certificates(certs: Certificates) -> None:
    """Delete the certificates' folder and everything in it (the leaf key included)."""
    shutil.rmtree(certs.directory, ignore_errors=True)


def _extra_name(host: str) -> tuple[str, str] | None:
    """``("IP", host)`` or ``("DNS", host)`` for a host outside the loopback names; None for loopback."""
    if host in _LOOPBACK_HOSTS:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return ("DNS", host)
    return None if address.is_loopback else ("IP", str(address))


def _sans(host: str) -> list[str]:
    sans = ["DNS:localhost", "IP:127.0.0.1", "IP:::1"]
    extra = _extra_name(host)
    if extra is not None:
        sans.append(f"{extra[0]}:{extra[1]}")
    return sans


def _with_openssl(target: Path, host: str) -> Certificates:
    ca_key, ca_pem = target / "ca.key", target / "ca.pem"
    key, csr, pem = target / "server.key", target / "server.csr", target / "server.pem"
    ca_ext, leaf_ext = target / "ca.cnf", target / "server.cnf"
    ca_ext.write_text(
        "[req]\ndistinguished_name=dn\nx509_extensions=ca\nprompt=no\n[dn]\nCN=b24crm emulator test CA\n"
        "[ca]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier=hash\nnameConstraints=critical,"
        + ",".join(f"permitted;{_openssl_subtree(n)}" for n in permitted_names(host))
        + "\n"
    )
    leaf_ext.write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
        f"subjectAltName={','.join(_sans(host))}\n"
    )

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    try:
        run(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-config", str(ca_ext),
            "-keyout", str(ca_key), "-out", str(ca_pem),
        )  # fmt: skip
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost")
        run(
            "x509", "-req", "-in", str(csr), "-CA", str(ca_pem), "-CAkey", str(ca_key),
            "-set_serial", str(secrets.randbits(63)), "-out", str(pem), "-days", "30", "-extfile", str(leaf_ext),
        )  # fmt: skip
        key.chmod(0o600)
    finally:  # the CA key has signed the one leaf it will ever sign: it goes now, whatever happened
        for used in (ca_key, csr, ca_ext, leaf_ext):
            used.unlink(missing_ok=True)
    return Certificates(str(ca_pem), str(pem), str(key), str(target))


def _with_cryptography(target: Path, host: str) -> Certificates:
    import importlib

    # Imported by name: ``cryptography`` is an optional extra, so neither mypy nor the runtime may require it.
    x509: Any = importlib.import_module("cryptography.x509")
    hashes: Any = importlib.import_module("cryptography.hazmat.primitives.hashes")
    serialization: Any = importlib.import_module("cryptography.hazmat.primitives.serialization")
    rsa: Any = importlib.import_module("cryptography.hazmat.primitives.asymmetric.rsa")
    oid: Any = importlib.import_module("cryptography.x509.oid")
    NameOID, ExtendedKeyUsageOID = oid.NameOID, oid.ExtendedKeyUsageOID

    def general_name(name: str) -> Any:
        kind, _, value = name.partition(":")
        if kind == "DNS":
            return x509.DNSName(value)
        if "/" in value:  # a permitted subtree: a network
            return x509.IPAddress(ipaddress.ip_network(value))
        return x509.IPAddress(ipaddress.ip_address(value))

    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # in memory only, never written
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "b24crm emulator test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .add_extension(
            x509.NameConstraints(
                permitted_subtrees=[general_name(n) for n in permitted_names(host)], excluded_subtrees=None
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([general_name(n) for n in _sans(host)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    del ca_key  # the one leaf is signed
    ca_file, cert_file, key_file = target / "ca.pem", target / "server.pem", target / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Certificates(str(ca_file), str(cert_file), str(key_file), str(target))
