// Independent WeChat / WeCom message crypto for tests/test_wechat_interop.py.
// Reads one JSON request on stdin, writes one JSON answer on stdout.
//   {"lib": "wechat-crypto" | "@wecom/crypto", "op": "encrypt" | "decrypt" | "sign",
//    "token", "key" (EncodingAESKey), "id" (AppID / CorpID), "text", "timestamp", "nonce"}
'use strict';
const WXBizMsgCrypt = require('wechat-crypto');
const wecom = require('@wecom/crypto');

function handle(req) {
  if (req.lib === 'wechat-crypto') {
    const c = new WXBizMsgCrypt(req.token, req.key, req.id);
    if (req.op === 'encrypt') {
      const encrypt = c.encrypt(req.text);
      return { encrypt, signature: c.getSignature(req.timestamp, req.nonce, encrypt) };
    }
    if (req.op === 'decrypt') return c.decrypt(req.text);
    if (req.op === 'sign') return { signature: c.getSignature(req.timestamp, req.nonce, req.text) };
  }
  if (req.lib === '@wecom/crypto') {
    if (req.op === 'encrypt') {
      const encrypt = wecom.encrypt(req.key, req.text, req.id);
      return { encrypt, signature: wecom.getSignature(req.token, req.timestamp, req.nonce, encrypt) };
    }
    if (req.op === 'decrypt') return wecom.decrypt(req.key, req.text);
    if (req.op === 'sign') return { signature: wecom.getSignature(req.token, req.timestamp, req.nonce, req.text) };
  }
  throw new Error('unknown request ' + req.lib + ' ' + req.op);
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify(handle(JSON.parse(input))));
});
