"""Award certificates: a PDF per winning work (WeasyPrint, the Noto CJK fonts embedded), a serial number and a
verification code that the public results page checks.

The code is the HMAC-SHA256 of the serial under the app's secret key, cut to 50 bits and written as 10
characters of Crockford's base32 in two groups (``7M2QK-X4D9B``): short enough to type from paper, no I, L,
O or U to misread, and typed input is forgiving (lower case, spaces, O for 0, I or L for 1). Without the key
nobody can make a code that verifies; a guess succeeds with odds of 2⁻⁵⁰ per serial.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date

from jinja2 import Environment

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
CODE_LENGTH = 10
_TYPED = str.maketrans({"O": "0", "I": "1", "L": "1"})
# Domain separation: the same secret key signs sessions and tokens elsewhere.
_PURPOSE = b"clipjury.award-certificate.v1:"


def serial_for(prefix: str, work_id: int) -> str:
    """The certificate's serial: the campaign's prefix (e.g. its year) and the work id, ``2026-000123``."""
    return f"{prefix}-{work_id:06d}"


def verification_code(serial: str, secret: str | bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, _PURPOSE + serial.encode(), hashlib.sha256).digest()
    bits = int.from_bytes(digest[:8], "big") >> (64 - 5 * CODE_LENGTH)
    chars = [CODE_ALPHABET[(bits >> (5 * i)) & 31] for i in reversed(range(CODE_LENGTH))]
    half = CODE_LENGTH // 2
    return "".join(chars[:half]) + "-" + "".join(chars[half:])


def normalise_code(typed: str) -> str | None:
    """What someone typed, in the printed form, or None when it cannot be a code."""
    cleaned = "".join(ch for ch in typed.upper() if ch not in " -\t").translate(_TYPED)
    if len(cleaned) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in cleaned):
        return None
    half = CODE_LENGTH // 2
    return cleaned[:half] + "-" + cleaned[half:]


def verify(typed: str, serial: str, secret: str | bytes) -> bool:
    code = normalise_code(typed)
    return code is not None and hmac.compare_digest(code, verification_code(serial, secret))


def code_index(serials: list[str], secret: str | bytes) -> dict[str, str]:
    """Code → serial for the issued certificates: the public page's look-up from a typed code."""
    return {verification_code(s, secret): s for s in serials}


@dataclass(frozen=True)
class Certificate:
    serial: str
    code: str
    title: str
    level: str
    campaign: str
    authors: str
    unit: str
    issuer: str
    issued_on: date
    verify_url: str


_TEMPLATE = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>获奖证书 {{ c.serial }}</title><style>
@page { size: A4 landscape; margin: 14mm; }
body { font-family: "Noto Serif CJK SC", "Noto Sans CJK SC", serif; color: #3a2a12; margin: 0; }
.frame { border: 3mm double #a8792b; height: 172mm; padding: 14mm 22mm; position: relative; }
h1 { text-align: center; font-size: 40pt; letter-spacing: 18pt; margin: 4mm 0 10mm; color: #9b1c1c; }
.campaign { text-align: center; font-size: 15pt; margin-bottom: 10mm; }
.body { font-size: 16pt; line-height: 2; }
.title { font-weight: bold; }
.level { text-align: center; font-size: 30pt; font-weight: bold; color: #9b1c1c; margin: 8mm 0; }
.issuer { position: absolute; right: 24mm; bottom: 30mm; text-align: right; font-size: 14pt; }
.check { position: absolute; left: 22mm; bottom: 14mm; font-family: "Noto Sans CJK SC", sans-serif;
         font-size: 10pt; color: #555; }
.check b { font-family: "Noto Sans Mono CJK SC", "Noto Sans CJK SC", monospace; font-size: 12pt; }
</style></head><body><div class="frame">
<h1>荣誉证书</h1>
<div class="campaign">{{ c.campaign }}</div>
<div class="body">{{ c.authors }}（{{ c.unit }}）：<br>
您的作品《<span class="title">{{ c.title }}</span>》在本次活动中荣获</div>
<div class="level">{{ c.level }}</div>
<div class="body">特发此证，以资鼓励。</div>
<div class="issuer">{{ c.issuer }}<br>{{ c.issued_on.year }}年{{ c.issued_on.month }}月{{ c.issued_on.day }}日</div>
<div class="check">证书编号 <b>{{ c.serial }}</b>　验证码 <b>{{ c.code }}</b><br>
在 {{ c.verify_url }} 输入验证码可查验本证书真伪。</div>
</div></body></html>
""")


def render_html(certificate: Certificate) -> str:
    return _TEMPLATE.render(c=certificate)


def render_pdf(certificate: Certificate) -> bytes:
    """The certificate as a PDF (~0.1–0.3 s). WeasyPrint embeds the subset of each font it uses; its memory
    is only returned by a collection, so one runs after every render (batches of certificates grow
    otherwise)."""
    import weasyprint  # slow to import: only where a certificate is made

    try:
        pdf: bytes = weasyprint.HTML(string=render_html(certificate)).write_pdf()
    finally:
        gc.collect()
    return pdf
