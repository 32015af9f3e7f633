"""Realistic generated mail for the benchmarks: ~5 KB human mails as a person's
client sends them (multipart/alternative, a signature, a quoted reply, DKIM and
Received headers), each with its own Message-ID and From."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass

QUEUE = "helpdesk@bench.example"


@dataclass(frozen=True, slots=True)
class Mail:
    index: int
    message_id: str
    sender: str
    raw: bytes


_FIRST = ["Anna", "Ben", "Chiara", "Dmitri", "Emma", "Farid", "Grace", "Hiroshi", "Ines", "Jonas"]
_LAST = ["Schmidt", "Okafor", "Rossi", "Novak", "Larsen", "Haddad", "Tanaka", "Silva", "Moreau"]
_DOMAINS = ["example.com", "example.org", "example.net", "corp.example"]
_SUBJECTS = [
    "VPN drops every few minutes since this morning",
    "Cannot open shared mailbox for the finance team",
    "Laptop fan very loud and battery drains fast",
    "Request: access to the sales reporting dashboard",
    "Printer on 3rd floor prints blank pages",
    "Outlook keeps asking for my password",
    "New starter next Monday needs an account and a laptop",
    "Teams calls freeze when I share my screen",
    "Wi-Fi in meeting room B is unusable",
    "Please reset MFA, I have a new phone",
]
_SENTENCES = [
    "Since this morning it has happened at least five times and I had to restart each time.",
    "I already tried rebooting the laptop and reconnecting, but it did not help at all.",
    "Colleagues sitting next to me do not seem to have the same problem, as far as I know.",
    "It started after the update that was installed last night, I think, but I am not sure.",
    "This is blocking me from preparing the quarterly report that is due on Friday.",
    "The error message says something about a certificate, screenshot is below in text.",
    "Could someone please have a look today? I am in the office until about 17:30.",
    "My manager has approved this request already, she is in copy of the earlier mail.",
    "I am working from home on Tuesdays and Thursdays, so a remote session would be best.",
    "The asset tag on the device is written on the sticker under the battery compartment.",
    "When I open the application it shows a spinning circle and then closes without a word.",
    "We have a customer visit tomorrow morning, so it would be great to fix it before then.",
]


def _paragraph(rng: random.Random) -> str:
    return " ".join(rng.sample(_SENTENCES, rng.randint(3, 5)))


def _wrap(textline: str, width: int = 76) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in textline.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines


def make_mail(index: int, run: str, rng: random.Random) -> Mail:
    """A ~5 KB multipart/alternative mail as a person's mail client would send it."""
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    domain = rng.choice(_DOMAINS)
    sender = f"{first.lower()}.{last.lower()}.{run}{index}@{domain}"
    message_id = f"<{run}.{index}.{rng.getrandbits(64):016x}@mail.{domain}>"
    subject = rng.choice(_SUBJECTS)
    date = rfc_date()
    paragraphs = [_paragraph(rng) for _ in range(3)]
    quoted = _paragraph(rng)
    plain_lines = ["Hello help desk,", ""]
    for para in paragraphs:
        plain_lines += [*_wrap(para), ""]
    plain_lines += [
        "Thanks a lot and best regards,",
        first,
        "",
        "-- ",
        f"{first} {last}",
        "Senior Analyst, Finance Operations",
        f"Phone +49 30 1234 {index % 10000:04d} | {sender}",
        "",
        f"On Mon, 3 Mar 2025 at 09:12, {first} {last} <{sender}> wrote:",
        *(f"> {line}" for line in _wrap(quoted, 74)),
    ]
    html_paras = "\n".join(f'<p style="margin:0 0 12px 0">{p}</p>' for p in paragraphs)
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        "</head>\n"
        '<body style="font-family:Calibri,Arial,sans-serif;font-size:11pt">\n'
        "<p>Hello help desk,</p>\n"
        f"{html_paras}\n"
        f"<p>Thanks a lot and best regards,<br>{first}</p>\n"
        f'<div style="color:#666">-- <br>{first} {last}<br>'
        "Senior Analyst, Finance Operations<br>"
        f"Phone +49 30 1234 {index % 10000:04d}</div>\n"
        f'<blockquote style="border-left:2px solid #ccc;padding-left:8px">{quoted}</blockquote>\n'
        "</body></html>"
    )
    boundary = f"=_boundary_{rng.getrandbits(48):012x}"
    dkim = "".join(
        rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        for _ in range(344)
    )
    mime, body = alternative(boundary, plain_lines, _wrap(html, 76))
    headers = [
        f"Return-Path: <{sender}>",
        f"Received: from mail.{domain} (mail.{domain} [192.0.2.{index % 250 + 1}])",
        "\tby mx.bench.example (Postfix) with ESMTPS id 4Xy7Zq2kLmz1",
        f"\tfor <{QUEUE}>; {date}",
        "Received: from [10.20.30.40] (laptop.internal [10.20.30.40])",
        f"\tby mail.{domain} with ESMTPSA id a1b2c3d4e5f6; {date}",
        f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=sel1;",
        "\th=from:to:subject:date:message-id:mime-version:content-type;",
        "\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;",
        f"\tb={dkim[:70]}",
        *(f"\t{dkim[i : i + 70]}" for i in range(70, len(dkim), 70)),
        f'From: "{first} {last}" <{sender}>',
        f"To: IT Help Desk <{QUEUE}>",
        f"Subject: {subject}",
        f"Date: {date}",
        f"Message-ID: {message_id}",
        *mime,
    ]
    return Mail(index, message_id, sender, raw_mail(headers, body))


def rfc_date() -> str:
    """Now, as a Date: header says it."""
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())


def alternative(boundary: str, plain: list[str], html: list[str]) -> tuple[list[str], list[str]]:
    """The MIME header lines and the body lines of a multipart/alternative mail with
    the plain and HTML lines as UTF-8 8bit parts, as Thunderbird writes them."""
    headers = [
        "MIME-Version: 1.0",
        "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) Thunderbird/128.4.0",
        "Content-Language: en-GB",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    return headers, [
        "This is a multi-part message in MIME format.",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8; format=flowed",
        "Content-Transfer-Encoding: 8bit",
        "",
        *plain,
        "",
        f"--{boundary}",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        *html,
        "",
        f"--{boundary}--",
        "",
    ]


def raw_mail(headers: list[str], body: list[str]) -> bytes:
    # smtplib and IMAP APPEND send bytes as they are: the mail must have CRLF line ends.
    return "\r\n".join([*headers, "", *body]).encode()


def make_mails(count: int, seed: int) -> list[Mail]:
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:6]
    return [make_mail(i, run, rng) for i in range(count)]
