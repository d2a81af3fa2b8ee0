"""WeChat official account (公众号) and WeCom (企业微信): signed XML in, numbered text out.

One module for both platforms: they share the signature, the AES message format, the XML
and the 5-second rule, and differ in a few names (`Endpoint.channel` is 'wechat' or 'wecom').

In: verify (signature compared in constant time, timestamp within the allowed skew, nonce
never seen before), decrypt (safe mode), parse with DTDs forbidden, turn into an `Incoming`,
and hand it to `Linli.handle` as a task. Out: when the handler is done within the budget
(4 s by default; WeChat gives up at 5 and retries), its replies are the passive reply; else
the passive reply is empty and the replies follow through the outbox as customer-service
messages. Proactive messages leave through `WeChatSender` / `WeComSender`.
"""

from bot.channels.wechat.admin import custom_menu, install_menu, invitation_qr_url
from bot.channels.wechat.crypto import Endpoint, Refused, parse_xml, signature
from bot.channels.wechat.messages import TEXT_MAX_BYTES, split_text
from bot.channels.wechat.senders import WeChatSender, WeComSender
from bot.channels.wechat.webhook import WeChatWebhook
from bot.channels.wechat.wiring import WeChatChannels, build_channels, oa_api, wecom_api

__all__ = [
    "TEXT_MAX_BYTES",
    "Endpoint",
    "Refused",
    "WeChatChannels",
    "WeChatSender",
    "WeChatWebhook",
    "WeComSender",
    "build_channels",
    "custom_menu",
    "install_menu",
    "invitation_qr_url",
    "oa_api",
    "parse_xml",
    "signature",
    "split_text",
    "wecom_api",
]
