"""The awards version as a spreadsheet (XLSX or CSV, through ``clipjury.reports.spreadsheet``): every criterion
score of every judge, the normalisation parameters, the ranking, the awards, the adjustments and removals, and
the hashes that tie the file to what it was computed from (the likes snapshot's version and SHA-256, and the
SHA-256 of the file's own data rows).

Judges appear under pseudonyms (评委01, 评委02, … in the order of their usernames, stable for a version) unless
the national admin asks for their names: the file can then be handed to provinces without naming anyone."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlmodel import Session, col, select

from clipjury.accounts.models import User
from clipjury.awards import service as awards
from clipjury.awards.models import AwardsVersionRecord
from clipjury.campaigns.models import Campaign
from clipjury.errors import NotFound
from clipjury.judging.models import JudgingAssignment
from clipjury.reports.exports import ExportFile, Format, render
from clipjury.reports.spreadsheet import Cell, Report, Sheet
from clipjury.timeutil import fmt_local

CAUSE_LABELS = {"computed": "计算", "adjusted": "调整等级", "disqualified": "取消资格后重排",
                "reinstated": "撤销取消资格后重排"}
USE_LABELS = {"kept": "计入", "clamped": "截尾计入", "dropped_high": "去掉最高分", "dropped_low": "去掉最低分"}


def pseudonyms(judges: list[str]) -> dict[str, str]:
    return {name: f"评委{i:02d}" for i, name in enumerate(sorted(judges), start=1)}


def _criterion_scores(session: Session, campaign: Campaign,
                      work_ids: set[int]) -> dict[tuple[str, int], dict[str, Any]]:
    """(judge username, work) → the criterion scores of live, complete assignments."""
    rows = session.exec(
        select(JudgingAssignment, User.username).join(User, col(User.id) == col(JudgingAssignment.judge_id))
        .where(col(JudgingAssignment.campaign_id) == campaign.id, col(JudgingAssignment.ended_at).is_(None),
               col(JudgingAssignment.complete))
    ).all()
    return {(str(name), a.work_id): dict(a.scores) for a, name in rows if a.work_id in work_ids}


def build(session: Session, campaign: Campaign, stored: AwardsVersionRecord, *, names: bool) -> Report:
    body, params = stored.body, stored.parameters
    rubric = params.get("rubric", [])
    rows = body["rows"]
    ids = [r["work_id"] for r in rows] + [r["row"]["work_id"] for r in body.get("removed", [])]
    labels = awards.work_labels(session, ids)
    judges = sorted({s["judge"] for r in rows for s in r.get("scores", [])}
                    | {j["judge"] for j in params.get("judges", [])})
    alias = {j: j for j in judges} if names else pseudonyms(judges)
    criteria = _criterion_scores(session, campaign, set(ids))

    scores = Sheet("逐项评分", freeze_header=True)
    scores.header(["作品编号", "作品名称", "专家", *[f"{c['name']}（{c['min']:g}–{c['max']:g}，权重 {c['weight']:g}）"
                                                    for c in rubric], "细则总分 T", "z", "处理"])
    for r in sorted(rows, key=lambda r: r["work_id"]):
        for s in r.get("scores", []):
            given = criteria.get((s["judge"], r["work_id"]), {})
            scores.row([r["work_id"], labels.get(r["work_id"], {}).get("title", ""), alias.get(s["judge"], s["judge"]),
                        *[given.get(c["key"]) for c in rubric], s["total"], s["z"], USE_LABELS.get(s["use"], s["use"])])

    norm = Sheet("标准化参数", freeze_header=True)
    norm.header(["专家", "评分数 n", "均值", "离散度", "收缩后均值 μ_j", "收缩后离散度 σ_j", "宽严偏差 b_j"])
    for j in sorted(params.get("judges", []), key=lambda j: alias.get(j["judge"], j["judge"])):
        norm.row([alias.get(j["judge"], j["judge"]), j["n"], j["mean"], j["spread"], j["norm_mean"],
                  j["norm_spread"], j["bias"]])
    norm.blank()
    for key, name in (("global_mean", "全体均值 μ"), ("global_spread", "全体离散度 σ"),
                      ("likes_reference", "点赞参照 L_ref"), ("likes_weight", "点赞权重 w"),
                      ("shrinkage_n0", "收缩系数 n₀"), ("model", "模型"), ("near_tie_margin", "接近分数线范围")):
        norm.row([name, params.get(key, body.get(key))])

    ranking = Sheet("排名与奖项", freeze_header=True)
    ranking.header(["名次", "作品编号", "作品名称", "省份", "单位", "原始均分", "标准化均分 S", "点赞数", "点赞得分",
                    "最终得分 F", "获奖等级", "接近分数线"])
    for r in sorted(rows, key=lambda r: (r["rank"] is None, r["rank"] or 0, r["work_id"])):
        label = labels.get(r["work_id"], {})
        ranking.row([r["rank"], r["work_id"], label.get("title", ""), label.get("province", ""),
                     label.get("unit") or "", r["raw_mean"], r["normalised"], r["likes"], r["likes_component"],
                     r["final"], r["level"] or "",
                     "是" if r["near_tie"] else ""])

    changes = Sheet("调整与移除", freeze_header=True)
    changes.header(["类型", "作品编号", "作品名称", "原等级", "新等级", "理由", "操作人", "时间（UTC）"])
    for a in body.get("adjustments", []):
        changes.row(["调整等级", a["work_id"], labels.get(a["work_id"], {}).get("title", ""), a["from"] or "不获奖",
                     a["to"] or "不获奖", a["reason"], a["by"], a["when"]])
    for removed in body.get("removed", []):
        row = removed["row"]
        changes.row(["取消资格移除", row["work_id"], labels.get(row["work_id"], {}).get("title", ""),
                     row["level"] or "不获奖", "", removed["reason"], removed["by"], removed["when"]])

    data = [scores, norm, ranking, changes]
    digest = hashlib.sha256(json.dumps([[s.name, s.rows] for s in data], ensure_ascii=False,
                                       separators=(",", ":"), default=str).encode()).hexdigest()
    about = Sheet("说明")
    about.header(["项目", "内容"])
    facts: list[list[Cell]] = [
        ["活动", campaign.name],
        ["评奖结果版本", f"第 {stored.number} 版（{CAUSE_LABELS.get(stored.cause, stored.cause)}）"],
        ["基于版本", body.get("based_on") or ""], ["生成时间（北京时间）", fmt_local(stored.created_at)],
        ["点赞数快照版本", stored.snapshot_version], ["点赞数快照 SHA-256", stored.snapshot_sha256],
        ["本文件数据 SHA-256", digest],
        ["数据 SHA-256 的算法", "其余各表（表名与各行单元格）按顺序组成的 JSON 数组（UTF-8，无空格）的 SHA-256"],
        ["专家名称", "真实用户名" if names else "代号（评委01…，按用户名排序）"],
        ["逐项评分来源", "数据库中当前已提交的评分；细则总分、z 与处理为计算时的值"],
    ]
    for fact in facts:
        about.row(fact)
    return Report(sheets=[about, *data], filename_stem=f"评奖结果_第{stored.number}版",
                  ascii_stem=f"awards-v{stored.number}")


def export(session: Session, user: User, campaign: Campaign, number: int | None, fmt: Format, *,
           names: bool = False) -> ExportFile:
    """An awards version as XLSX or CSV (national admin); 404 when there is no such version."""
    awards.require_national(user, "导出评奖结果")
    stored = awards.latest_record(session, campaign) if number is None else awards.record_of(session, campaign, number)
    if stored is None:
        raise NotFound("尚未计算奖项。")
    return render(build(session, campaign, stored, names=names), fmt)
