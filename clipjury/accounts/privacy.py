"""What a person consents to when registering: the campaign's rights notice (附件3) and the privacy
notice (what is processed, why, how long, whom to ask). The digest of exactly the text shown is stored
with the account, so it can later be shown which wording a person agreed to."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from clipjury.settings import get_settings


@dataclass(frozen=True)
class ConsentText:
    rights: str
    privacy: str
    digest: str


def privacy_notice() -> str:
    settings = get_settings()
    years = settings.inactive_account_retention_days / 365
    kept = (
        f"账号连续 {settings.inactive_account_retention_days} 天（约 {years:.0f} 年）未登录将被自动注销"
        if settings.inactive_account_retention_days else "账号在您注销前一直保留"
    )
    return (
        "个人信息处理说明：我们处理您的手机号码、昵称、所选省份和单位，以及您上传的作品。"
        "手机号码用于验证身份、登录、找回密码和发送作品评审进度短信，以加密方式保存，工作人员只能看到部分号码"
        "（如 138****8000）；昵称和单位用于作品的报送与评审。"
        f"保存期限：{kept}；您可随时在“我的账号”中注销账号，注销后手机号码、昵称和未提交的作品立即删除，"
        "已进入评审的作品按活动规则保留，但不再与您关联（显示为“已注销用户”）。"
        "除评审工作需要外，我们不向任何第三方提供您的个人信息。"
        f"如需查询、更正或删除个人信息，请联系：{settings.privacy_contact}。"
    )


def consent_text(rights_notice: str) -> ConsentText:
    privacy = privacy_notice()
    digest = hashlib.sha256(f"{rights_notice}\n\n{privacy}".encode()).hexdigest()
    return ConsentText(rights=rights_notice, privacy=privacy, digest=digest)
