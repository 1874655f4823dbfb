"""Mutual TLS: who may talk to a node (optional; a cluster without it is plaintext).

With TLS on, every connection to a node — a peer's stream, a client's call, the runner's
admin and health checks — is a TLS connection on which *both* sides show a certificate
signed by the cluster's certificate authority (CA), and check the other's:

* the node's server asks every caller for a certificate and refuses the handshake unless
  it chains to the CA (``require_client_auth``): a process with no certificate, or one
  from another CA, never gets a single message through — nothing it sends can change the
  cluster's state;
* a caller checks that the server's certificate chains to the CA **and names the node it
  meant to reach**: each node's certificate carries its id as a DNS name, and the caller
  asks for that name (``grpc.ssl_target_name_override``), not for the host it dials. The
  address dialed is often a fault proxy on some other port (``cluster/``): checking the
  id instead of ``127.0.0.1`` means a link wired to the wrong node, or any other holder of
  a CA certificate sitting at a node's address, fails the handshake. (Every node's
  certificate also names ``127.0.0.1`` and ``localhost``, so a tool such as ``grpcurl``
  that knows no node ids can still verify a node by its address.)

The proxies see only TLS records and pass them on untouched: they work on TCP bytes.

Files: the CA's certificate (public: everyone trusts it), and per process a certificate
and its private key (``0600``). ``issue_cluster_tls`` makes them for a local cluster
(``cluster up --tls``): a CA, one certificate per node (usable as server and as client:
a node also dials its peers) and one client certificate for the runner, the CLI and
tests. ECDSA P-256 keys: fast to make and to handshake with.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import ssl
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from protocols.common.errors import ConfigError
from protocols.common.ids import NodeId

__all__ = ["CLIENT_NAME", "CertificateAuthority", "TlsFiles", "TlsMaterial", "cluster_tls_of",
           "cluster_tls_to_json", "diagnose", "issue_cluster_tls", "open_channel",
           "server_credentials"]

CLIENT_NAME = "client"  # the common name of the runner's / CLI's / tests' certificate
_VALID_FOR = datetime.timedelta(days=3650)
_CLOCK_SKEW = datetime.timedelta(hours=1)  # valid from a little before it was made


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Where one process's TLS material lives: the CA it trusts, its own certificate and
    the certificate's private key (paths, as the cluster file gives them)."""

    ca: str
    cert: str
    key: str

    def load(self, what: str) -> TlsMaterial:
        """The files' contents, checked: ConfigError naming ``what`` and the file if one
        is missing, unreadable, readable by others (a key), not PEM, or if the key does
        not belong to the certificate."""
        ca = _read_certificate(self.ca, f"{what}: CA certificate")
        cert = _read_certificate(self.cert, f"{what}: certificate")
        key = _read_private_key(self.key, f"{what}: private key")
        if _public_bytes(key[1].public_key()) != _public_bytes(cert[1].public_key()):
            raise ConfigError(f"{what}: private key {self.key} does not belong to "
                              f"certificate {self.cert}")
        return TlsMaterial(ca[0], cert[0], key[0], _common_name(cert[1]), self)

    def to_json(self) -> dict[str, str]:
        return {"ca": self.ca, "cert": self.cert, "key": self.key}

    @classmethod
    def from_json(cls, raw: Any) -> TlsFiles:
        return cls(str(raw["ca"]), str(raw["cert"]), str(raw["key"]))


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """Loaded PEM bytes, ready for gRPC; ``name``: the certificate's common name;
    ``files``: where they were read from."""

    ca: bytes
    cert: bytes
    key: bytes
    name: str
    files: TlsFiles

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Trust the CA only; show our certificate when the server asks."""
        return grpc.ssl_channel_credentials(root_certificates=self.ca, private_key=self.key,
                                            certificate_chain=self.cert)


def server_credentials(material: TlsMaterial) -> grpc.ServerCredentials:
    """A node's server side: its certificate, and every caller must show one the CA
    signed (the handshake fails otherwise, before any RPC)."""
    return grpc.ssl_server_credentials([(material.key, material.cert)],
                                       root_certificates=material.ca,
                                       require_client_auth=True)


def open_channel(address: str, tls: TlsMaterial | None, node_id: str,
                 options: Sequence[tuple[str, Any]] = ()) -> grpc.aio.Channel:
    """A channel to node ``node_id`` at ``address`` (maybe its proxy): plaintext without
    ``tls``; with it, mutual TLS that accepts only the certificate naming ``node_id``."""
    if tls is None:
        return grpc.aio.insecure_channel(address, options=list(options))
    return grpc.aio.secure_channel(address, tls.channel_credentials(),
                                   options=[*options, ("grpc.ssl_target_name_override",
                                                       node_id)])


async def diagnose(address: str, node_id: str, tls: TlsMaterial | None,
                   timeout_s: float = 1.0) -> str | None:
    """Why a connection to node ``node_id`` at ``address`` fails at the TLS level, in one
    line, or None if TLS is not the reason (the node is down, a proxy cut the link...).

    gRPC reports a refused handshake as a bare "Socket closed": a server that rejects a
    caller's certificate just closes the connection. So we shake hands once more, with
    Python's ``ssl`` and the same material, and read what happens: a node that speaks
    TLS to a caller without any; a node that does not speak TLS; a node whose
    certificate we do not trust; a handshake that completes and is followed by the
    server closing without a byte (a gRPC server's first act is to send its HTTP/2
    settings): it refused our certificate."""
    host, _, port = address.rpartition(":")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_alpn_protocols(["h2"])
    if tls is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(cadata=tls.ca.decode())
        ctx.load_cert_chain(tls.files.cert, tls.files.key)
    where = f"node {node_id} at {address}"
    writer = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(host, int(port), ssl=ctx,
                                                           server_hostname=node_id)
            first = await reader.read(1)
    except ssl.SSLCertVerificationError as e:
        assert tls is not None
        return (f"TLS: {where} showed a certificate this client does not trust "
                f"({e.verify_message}; trusted CA: {tls.files.ca})")
    except ssl.SSLError as e:
        if tls is not None and e.reason == "WRONG_VERSION_NUMBER":
            return f"TLS: {where} does not speak TLS (its cluster runs without --tls)"
        return None
    except (OSError, TimeoutError):
        return None
    finally:
        if writer is not None:
            writer.close()
    if tls is None:
        return (f"TLS: {where} requires mutual TLS (its cluster runs with --tls) and this "
                "client has no certificate")
    if not first:
        return (f"TLS: {where} refused this client's certificate ({tls.files.cert}, "
                f"CN={tls.name}): it was not signed by the cluster's CA")
    return None


# ---------------------------------------------------------------------- reading files
def _read(path: str, what: str) -> bytes:
    if not path:
        raise ConfigError(f"{what}: no file given")
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise ConfigError(f"{what}: {path} does not exist") from None
    except OSError as e:
        raise ConfigError(f"{what}: cannot read {path}: {e.strerror}") from None


def _read_certificate(path: str, what: str) -> tuple[bytes, x509.Certificate]:
    data = _read(path, what)
    try:
        return data, x509.load_pem_x509_certificate(data)
    except ValueError:
        raise ConfigError(f"{what}: {path} is not a PEM certificate "
                          "('-----BEGIN CERTIFICATE-----')") from None


def _read_private_key(path: str, what: str) -> tuple[bytes, Any]:
    data = _read(path, what)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        raise ConfigError(f"{what}: {path} is readable by others (mode {mode:04o}); "
                          f"chmod 600 {path}")
    try:
        return data, serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{what}: {path} is not an unencrypted PEM private key "
                          "('-----BEGIN PRIVATE KEY-----')") from None


def _public_bytes(public_key: Any) -> bytes:
    data: bytes = public_key.public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return data


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


# ---------------------------------------------------------------------- issuing
class CertificateAuthority:
    """A CA that signs the cluster's certificates. Its key stays in the cluster dir
    (``0600``) so a node added later can be given a certificate."""

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey,
                 cert_path: Path) -> None:
        self.cert = cert
        self.key = key
        self.cert_path = cert_path

    @classmethod
    def create(cls, directory: Path, name: str = "protocols cluster CA"
               ) -> CertificateAuthority:
        """A new self-signed CA: ``ca.pem`` and ``ca.key`` in ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder()
                .subject_name(subject).issuer_name(subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - _CLOCK_SKEW).not_valid_after(now + _VALID_FOR)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=False, content_commitment=False,
                    key_encipherment=False, data_encipherment=False, key_agreement=False,
                    key_cert_sign=True, crl_sign=True, encipher_only=False,
                    decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .sign(key, hashes.SHA256()))
        _write_key(directory / "ca.key", key)
        (directory / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(cert, key, directory / "ca.pem")

    @classmethod
    def load(cls, directory: Path) -> CertificateAuthority:
        """The CA ``create`` wrote in ``directory``."""
        cert_pem, cert = _read_certificate(str(directory / "ca.pem"), "CA certificate")
        _, key = _read_private_key(str(directory / "ca.key"), "CA private key")
        del cert_pem
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"CA private key {directory / 'ca.key'} is not an EC key")
        return cls(cert, key, directory / "ca.pem")

    def issue(self, name: str, directory: Path, *, server: bool,
              hosts: Iterable[str] = ("127.0.0.1", "localhost")) -> TlsFiles:
        """A certificate for ``name`` (a node id, or ``client``), signed by this CA:
        ``<name>.pem`` and ``<name>.key`` in ``directory``. It names ``name`` and
        ``hosts`` (IP addresses or DNS names) as subject alternative names; ``server``:
        usable by a node (TLS server and client), else by a client only."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                  if server else [ExtendedKeyUsageOID.CLIENT_AUTH])
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(self.cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - _CLOCK_SKEW).not_valid_after(now + _VALID_FOR)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                               critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=True, content_commitment=False,
                    key_encipherment=False, data_encipherment=False, key_agreement=False,
                    key_cert_sign=False, crl_sign=False, encipher_only=False,
                    decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
                .add_extension(x509.SubjectAlternativeName(_names(name, hosts)),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.key.public_key()), critical=False)
                .sign(self.key, hashes.SHA256()))
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
        _write_key(key_path, key)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return TlsFiles(str(self.cert_path), str(cert_path), str(key_path))

    def signed(self, cert_pem: bytes) -> bool:
        """Whether this CA signed the certificate ``cert_pem``."""
        try:
            x509.load_pem_x509_certificate(cert_pem).verify_directly_issued_by(self.cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True


def issue_cluster_tls(directory: Path, node_ids: Iterable[str]
                      ) -> tuple[dict[str, TlsFiles], TlsFiles]:
    """A new CA in ``directory`` and its certificates: one per node, one for clients."""
    ca = CertificateAuthority.create(directory)
    nodes = {n: ca.issue(n, directory, server=True) for n in node_ids}
    return nodes, ca.issue(CLIENT_NAME, directory, server=False)


def _names(name: str, hosts: Iterable[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = [x509.DNSName(name)]
    for host in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if host != name:
                out.append(x509.DNSName(host))
    return out


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write a private key readable by its owner only (0600 from the start: never a
    moment when others could read it)."""
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def cluster_tls_of(raw: Any, members: Iterable[NodeId]) -> dict[NodeId, TlsFiles]:
    """The cluster file's ``tls`` section — ``{"ca": PATH, "nodes": {id: {"cert": PATH,
    "key": PATH}}}``, one entry per member — as each node's TlsFiles (none: no TLS).
    Only its shape is checked here; a node reads and checks its own files when it starts
    (another node's key need not be on this machine)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or set(raw) != {"ca", "nodes"}:
        raise ConfigError("'tls' must be an object with 'ca' (the CA certificate's path) "
                          "and 'nodes' (node id -> {cert, key})")
    ca, nodes = raw["ca"], raw["nodes"]
    if not isinstance(ca, str) or not ca:
        raise ConfigError(f"tls.ca: expected the path of the CA certificate, got {ca!r}")
    if not isinstance(nodes, Mapping):
        raise ConfigError("tls.nodes: expected an object of node id -> {cert, key}")
    members = sorted(members)
    missing = [n for n in members if n not in nodes]
    unknown = sorted(set(nodes) - set(members))
    if missing or unknown:
        raise ConfigError("tls.nodes: " + "; ".join(
            ([f"no certificate for {', '.join(missing)}"] if missing else [])
            + ([f"unknown node(s) {', '.join(unknown)}"] if unknown else [])))
    out: dict[NodeId, TlsFiles] = {}
    for n in members:
        entry = nodes[n]
        if not isinstance(entry, Mapping) or set(entry) != {"cert", "key"} or not all(
                isinstance(v, str) and v for v in entry.values()):
            raise ConfigError(f"tls.nodes.{n}: expected {{\"cert\": PATH, \"key\": PATH}}, "
                              f"got {entry!r:.80}")
        out[n] = TlsFiles(ca, entry["cert"], entry["key"])
    return out


def cluster_tls_to_json(tls: Mapping[NodeId, TlsFiles]) -> dict[str, Any] | None:
    """``cluster_tls_of``'s inverse (None when TLS is off)."""
    if not tls:
        return None
    return {"ca": next(iter(tls.values())).ca,
            "nodes": {n: {"cert": f.cert, "key": f.key} for n, f in sorted(tls.items())}}
