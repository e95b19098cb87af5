"""Award certificates: the PDF's text and embedded fonts (pypdf), the verification code and its typing rules."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest
from pypdf import PdfReader

from clipjury.awards.certificates import (
    Certificate,
    code_index,
    normalise_code,
    render_pdf,
    serial_for,
    verification_code,
    verify,
)

SECRET = "test-secret-for-certificates"


@pytest.fixture(scope="module")
def certificate() -> Certificate:
    serial = serial_for("2026", 123)
    return Certificate(
        serial=serial, code=verification_code(serial, SECRET), title="守护秘密<的>每一天", level="一等奖",
        campaign="2026年全国保密宣传微视频征集活动", authors="张三、李四", unit="河北省石家庄市保密局",
        issuer="全国保密宣传教育活动组委会", issued_on=date(2026, 12, 20), verify_url="https://example.org/results",
    )


@pytest.fixture(scope="module")
def pdf(certificate: Certificate) -> PdfReader:
    return PdfReader(io.BytesIO(render_pdf(certificate)))


def test_the_pdf_shows_title_level_serial_and_code(certificate: Certificate, pdf: PdfReader) -> None:
    assert len(pdf.pages) == 1
    text = "".join(pdf.pages[0].extract_text().split())
    for expected in ("荣誉证书", certificate.title, certificate.level, certificate.serial, certificate.code,
                     certificate.unit):
        assert "".join(expected.split()) in text


def test_every_font_in_the_pdf_is_embedded(pdf: PdfReader) -> None:
    resources: Any = pdf.pages[0]["/Resources"]
    fonts: dict[str, Any] = {k: v.get_object() for k, v in resources["/Font"].items()}
    assert fonts
    names = []
    for font in fonts.values():
        names.append(str(font["/BaseFont"]))
        described = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
        descriptor = described["/FontDescriptor"].get_object()
        assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), font["/BaseFont"]
    assert any("CJK" in n for n in names)


def test_the_code_is_short_typable_and_verifies_only_its_serial() -> None:
    serial = serial_for("2026", 123)
    code = verification_code(serial, SECRET)
    assert len(code) == 11 and code[5] == "-"
    assert not set(code.replace("-", "")) & set("ILOU")
    assert verification_code(serial, SECRET) == code  # deterministic
    assert verify(code, serial, SECRET)
    assert verify(code.lower().replace("-", " "), serial, SECRET)
    assert verify(code.replace("0", "O").replace("1", "l"), serial, SECRET)
    assert not verify(code, serial_for("2026", 124), SECRET)
    assert not verify(code, serial, "another-secret")
    assert normalise_code("too short") is None and normalise_code("UUUUU-UUUUU") is None
    flipped = ("1" if code[0] != "1" else "2") + code[1:]
    assert not verify(flipped, serial, SECRET)
    assert code_index([serial, serial_for("2026", 5)], SECRET)[code] == serial
