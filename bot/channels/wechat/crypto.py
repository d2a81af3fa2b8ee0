"""Verifying and opening a platform request: the signature, AES (safe mode) and the XML."""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from wechatpy.crypto import PrpCrypto as OaPrpCrypto
from wechatpy.crypto import WeChatCrypto as OaCrypto
from wechatpy.enterprise.crypto import PrpCrypto as WecomPrpCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WecomCrypto
from wechatpy.utils import WeChatSigner


class Refused(Exception):
    """A request that is answered with `status` and has no effect."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


# ---------------------------------------------------------------- verification and crypto


def signature(*parts: str) -> str:
    """WeChat's SHA-1 over the sorted parts (token, timestamp, nonce[, encrypted body])."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def same(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a signature."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True)
class Endpoint:
    """One platform's callback settings."""

    channel: str  # 'wechat' (official account) or 'wecom'
    token: str
    aes_key: str | None = None  # EncodingAESKey: safe mode (always on WeCom)
    app_id: str = ""  # the AppID (official account) or CorpID (WeCom) the messages carry
    agent_id: int | None = None
    max_skew: int = 300

    @property
    def safe(self) -> bool:
        return bool(self.aes_key)

    def _key(self) -> bytes:
        assert self.aes_key is not None
        return base64.b64decode(self.aes_key + "=")

    def decrypt(self, encrypted: str) -> str:
        """The plaintext of an encrypted body (the AppID/CorpID inside must be ours)."""
        cls = WecomPrpCrypto if self.channel == "wecom" else OaPrpCrypto
        try:
            return str(cls(self._key()).decrypt(encrypted, self.app_id))
        except Exception as err:  # bad base64, padding, or someone else's app id
            raise Refused(400, f"cannot decrypt: {type(err).__name__}") from err

    def encrypt(self, xml: str, nonce: str, timestamp: str) -> str:
        """The encrypted envelope of a reply."""
        crypto_cls = WecomCrypto if self.channel == "wecom" else OaCrypto
        crypto = crypto_cls(self.token, self.aes_key, self.app_id)
        return str(crypto.encrypt_message(xml, nonce, timestamp))


def parse_xml(body: bytes | str) -> dict[str, str]:
    """The child elements of an `<xml>` document; DTDs (entity bombs, external entities) refused."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, SyntaxError, ValueError) as err:  # ParseError is a SyntaxError
        raise Refused(400, f"bad xml: {type(err).__name__}") from err
    if root.tag != "xml":
        raise Refused(400, "not a WeChat message")
    return {child.tag: (child.text or "") for child in root}
