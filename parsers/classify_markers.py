"""The words and phrases `classify` looks for, compiled once at import.

Kept apart from the decision logic so the tables can grow (a new language, a new
MTA template) without touching the rules. Every pattern runs on lowercased text.
Body patterns are deliberately whole phrases that automated senders write about
themselves ("this is an automatic reply", "the following addresses had permanent
fatal errors"), never single words a person might use in a sentence about the
same topic ("I was out of office", "my mail bounced").
"""

from __future__ import annotations

import re


class Phrases:
    """Alternatives searched one by one, each compiled on its own.

    The re module finds a pattern that starts with a literal with a fast
    substring search, but tries one big alternation branch by branch at every
    position: on 2 KB of text the split form is up to a hundred times faster.
    So the alternatives below start with a literal word wherever they can."""

    __slots__ = ("_patterns",)

    def __init__(self, *alternatives: str, flags: int = 0) -> None:
        self._patterns = tuple(re.compile(alternative, flags) for alternative in alternatives)

    def search(self, text: str) -> re.Match[str] | None:
        """The first alternative's match, in table order (not text order)."""
        for pattern in self._patterns:
            match = pattern.search(text)
            if match is not None:
                return match
        return None

    def earliest(self, text: str) -> int | None:
        """Where the first match of any alternative starts, if any matches."""
        found = [match.start() for pattern in self._patterns if (match := pattern.search(text))]
        return min(found, default=None)

    def starts(self, text: str) -> list[int]:
        """Where any alternative matches, unsorted (an alternative's matches don't overlap)."""
        return [match.start() for pattern in self._patterns for match in pattern.finditer(text)]


# Words (any language) that an automatic reply puts in front of, or in place of,
# the original subject: Outlook/Exchange OOF in each client language, Lotus Notes,
# Zimbra, Gmail and cPanel vacation replies. Latvian, Scandinavian and Czech are
# extras seen in the wild (bounce-email's Exchange reply is Latvian).
_AUTO_REPLY_WORDS = (
    r"auto(?:matic|mated)?[ -]?(?:reply|response|answer)",
    r"autoreply|autoresponse|autoresponder",
    r"out of (?:the )?office|ooo|oof",
    r"abwesenheitsnotiz|abwesenheit|automatische antwort|abwesend",
    r"r[ée]ponse automatique|absence du bureau|absent du bureau|message d'absence",
    r"respuesta autom[áa]tica|fuera de (?:la )?oficina|ausente",
    r"risposta automatica|fuori sede|fuori ufficio|assente",
    r"automatisch antwoord|afwezig(?:heid)?|afwezigheidsassistent",
    r"resposta autom[áa]tica|ausente do escrit[óo]rio|fora do escrit[óo]rio",
    r"odpowied[źz] automatyczna|automatyczna odpowied[źz]|poza biurem",
    r"автоответ(?:чик)?|автоматический ответ|вне офиса|нет на месте",
    r"自动回复|自動回覆|自动答复|自動応答|自動返信|不在通知|外出中",
    r"[āa]rpus biroja(?: atra[šs]an[āa]s)?|autom[āa]tisk[āa] atbilde",
    r"autosvar|automaattinen vastaus|automatick[áa] odpov[ěe][ďd]",
)
_WORD = "(?:" + "|".join(_AUTO_REPLY_WORDS) + ")"

# A subject prefix (everything before the first colon) or a body's first line made
# of these words only: "Automatic reply: Printer", "Out of Office AutoReply: x".
AUTO_REPLY_HEAD = re.compile(rf"\s*{_WORD}(?:[\s:-]+{_WORD})*\s*")
# One in brackets anywhere: "[Automatyczna odpowiedź] test", "Re: x (Automatic Response)".
AUTO_REPLY_BRACKETED = re.compile(rf"[\[(\uff08\u3010]\s*{_WORD}\s*[\])\uff09\u3011]")
# Lotus Notes: "Jane Doe/ACME is out of the office." / "ist außer Haus".
AUTO_REPLY_NOTES = re.compile(
    r"\b(?:is (?:currently )?out of (?:the )?office|ist (?:au[ßs]er haus|nicht im b[üu]ro))\.?\s*$"
)
# An automatic reply that introduces itself in its first lines, in each language.
AUTO_REPLY_BODY = Phrases(
    r"this is an? (?:automatic(?:ally generated)?|automated|auto-?generated)[ -]"
    r"(?:reply|response|answer)",
    r"this is an? auto-?(?:reply|response)",
    r"dies ist eine (?:automatische|automatisch (?:generierte|erstellte)) "
    r"(?:antwort|abwesenheitsnotiz)",
    r"dies ist eine abwesenheitsnotiz",
    r"ceci est une r[ée]ponse automatique",
    r"sta es una respuesta autom[áa]tica",
    r"questa [èe] una risposta automatica",
    r"dit is een automatisch (?:antwoord|gegenereerd antwoord)",
    r"sta [ée] uma resposta autom[áa]tica",
    r"to jest automatyczna odpowied[źz]",
    r"это автоматический ответ",
    r"это автоответ",
    r"这是(?:一封)?自动回复",
    r"(?:邮件|郵件)(?:为|為|是)自动回复",
    r"このメールは自動(?:返信|応答)",
)
# Gate before AUTO_REPLY_BODY: every phrase in it contains one of these.
AUTO_REPLY_BODY_GATE = ("auto", "abwesen", "авто", "自动", "自動")

# Subject words of delivery failure reports. Searched anywhere in the subject, but
# only ever counted together with a sender or body sign (see classify.py).
BOUNCE_SUBJECT = Phrases(
    r"undeliver(?:able|ed)",
    r"non[- ]?deliver",
    r"not (?:been )?delivered",
    r"delivery (?:status )?(?:failure|failed|notification|problem|report|warning|status)",
    r"delivery status",
    r"deliver(?:y|ing) (?:has )?failed",
    r"failed (?:mail|delivery)",
    r"failure (?:notice|delivery)",
    r"returned (?:mail|to sender)",
    r"returning message",
    r"mail (?:delivery )?(?:error|failure|failed)",
    r"could not be delivered",
    r"couldn't be delivered",
    r"delayed mail",
    r"message delayed",
    r"could not send message",
    r"mail system error",
    r"permanent (?:delivery )?failure",
    r"user unknown",
    r"processing error",
    r"there was an error sending",
    r"non remis",
    r"unzustellbar",
    r"nicht zugestellt",
    r"no entregado",
    r"non recapitato",
    r"onbestelbaar",
    r"não entregue",
    r"nie dostarczon",
    r"не доставлено",
    r"недоставлен",
    r"退信",
    r"投递失败",
    r"配信不能",
    r"不達",
    r"送信できません",
    r"配信できません",
)

# Sentences delivery software writes at the top of its report: qmail, Postfix, Exim,
# sendmail, Exchange/Office 365, Lotus Domino, GroupWise, Gmail, Yahoo, AOL, MDaemon,
# IMail, InterScan, hMailServer, Mail.ru, KDDI, fml. Searched in the first lines only.
BOUNCE_BODY = Phrases(
    r"this is the qmail-send program",
    r"afraid i wasn't able to deliver",
    r"able to deliver your message",
    r"unable to deliver (?:your )?message",
    r"unable to deliver mail",
    r"this is the (?:[\w./() -]{1,40} )?(?:program|mail system) at host",
    r"i'm sorry to have to inform you that (?:your|the) message",
    r"created automatically by mail delivery software",
    r"created by mail delivery software",
    r"message that you (?:have )?sent (?:could not be|has not yet been|was not) delivered",
    r"the original message was received at",
    r"addresses had (?:permanent fatal|delivery) (?:errors|problems)",
    r"transcript of session follows",
    r"did not reach (?:some or all of )?the (?:intended|following) recipient",
    r"delivery has failed to these recipients",
    r"recipient\(?s?\)? could not be reached",
    r"message (?:has|was) not (?:yet )?been delivered",
    r"mail (?:has|was) not (?:yet )?been delivered",
    r"was not delivered to",
    r"message not delivered",
    r"not be delivered to:?\s*<?[\w.+-]{1,64}@",
    r"not be delivered to the following",
    r"message[^.]{0,60}(?:could|can) ?not be delivered",
    r"mail[^.]{0,60}(?:could|can) ?not be delivered",
    r"could not deliver (?:the )?(?:message|mail)",
    r"delivery to the following recipients? (?:failed|has been delayed)",
    r"failed recipient",
    r"undeliverable (?:address|mail)",
    r"delivery status notification",
    r"delivery failed \d+ attempts",
    r"permanent fatal delivery errors",
    r"returned mail follows",
    r"not a valid user",
    r"no such user",
    r"there is no user by that name",
    r"invalid final delivery userid",
    r"intended recipient:",
    r"unknown user:",
    r"error-for:",
    r"error: invalid user address",
    r"message not delivered to the following",
    r"(?<![\d.])[45]\d\d[ -]#?[45]\.\d{1,3}\.\d{1,3}\b",
    r"you are not a member of this mailing list",
    r"duplicated message-id",
    r"has encountered delivery problems",
    r"message delivery has failed",
    r"your mail to the following recipients could not be delivered",
    r"delivery problems? (?:report|notice)",
    r"was rejected by the local scanning code",
    r"письмо не (?:может быть|было) доставлено",
    r"не удалось доставить",
    r"送信できませんでした",
    r"配信できませんでした",
)

# Separators after which a mail quotes or forwards someone else's text: a bounce
# report only counts when its phrase comes before them.
QUOTE_SEPARATOR = re.compile(
    r"^(?:-{3,} ?(?:forwarded message|original message|weitergeleitete nachricht|"
    r"ursprüngliche nachricht|message transféré|message d'origine|mensaje reenviado|"
    r"mensaje original|messaggio inoltrato|messaggio originale|doorgestuurd bericht|"
    r"oorspronkelijk bericht|mensagem encaminhada|mensagem original|"
    r"wiadomość przekazana|oryginalna wiadomość|пересылаемое сообщение|исходное сообщение)"
    r"|begin forwarded message|on .{1,120} wrote:$|am .{1,120} schrieb .{1,80}:$"
    r"|le .{1,120} a écrit ?:$|el .{1,120} escribió:$|>)",
    re.MULTILINE,
)

# Senders that write nothing but delivery reports: the RFC 5321 MAILER-DAEMON
# convention and the names common MTAs give themselves ("daemon"); and senders
# that often, but not only, write them ("system"), which only make a subject or
# body sign count.
_DAEMON = r"mailer[-_]?daemon|mail[-_]?daemon|mail\.delivery\.system|mail delivery (?:sub)?system"
BOUNCE_SENDER = re.compile(_DAEMON)
SYSTEM_SENDER = re.compile(
    rf"(?P<daemon>{_DAEMON})"
    r"|(?P<system>postmaster|post_master|mdaemon|system administrator|sysadmin"
    r"|ndr administrator|antivirus|interscan|imss|virus ?wall|smtp|mail ?gateway|inetgw"
    r"|mail ?server|mail ?system|mail ?administrator|mailadm|mail delivery"
    r"|delivery (?:sub)?system|-admin@|owner-|-owner@|no-?reply)"
)
# Gate before SYSTEM_SENDER: each of its words contains one of these.
SYSTEM_SENDER_GATE = (
    "daemon", "post", "admin", "virus", "interscan", "imss", "smtp", "gateway", "inetgw",
    "server", "system", "mailadm", "delivery", "owner", "reply",
)  # fmt: skip

# Recipients that only ever receive delivery reports: VERP and list bounce addresses.
BOUNCE_RECIPIENT = re.compile(
    r"(?<![a-z0-9])bounces?[-+=@]|[-+._]bounces?[-+=@]|-admin@|(?<![\w.-])owner-[\w.-]{1,64}@"
)

# Unsubscribe footers of newsletters and list mail, in three kinds; a mail needs two
# different kinds before its body alone makes it bulk (see classify.py). Quantifiers
# are bounded so that a long run of junk costs linear time, not backtracking.
BULK_FOOTER_LINK = Phrases(
    r"https?://[^\s\"'<>]{0,200}?(?:unsub|opt-?out|remove|abmelden|abbestell|d[ée]sinscri"
    r"|d[ée]sabonn|baja|disiscri|afmeld|uitschrijv|descadastr|wypisz)",
    r"unsubscribe[\w.+-]{0,64}@",
    r"leave-[\w.+-]{1,64}@",
    r"remove[\w.+-]{0,64}@",
    r"signoff[\w.+-]{0,64}@",
)
BULK_FOOTER_WHY = Phrases(
    r"you (?:are receiving|received|receive|have received|were sent) this "
    r"(?:e-?mail|message|newsletter|mailing|because)",
    r"this (?:e-?mail|message|newsletter) (?:was|has been|is being) sent to",
    r"you are (?:currently )?subscribed (?:as|to)",
    r"member of (?:the|this) (?:mailing )?list",
    r"subscriber of (?:the|this) (?:mailing )?list",
    r"registered at .{1,40} you indicated",
    r"sie erhalten (?:diese|den|unseren) (?:e-mail|nachricht|newsletter)",
    r"sie sind mit folgender adresse registriert",
    r"vous recevez ce (?:message|courriel|mail|e-mail|newsletter)",
    r"recibes? este (?:correo|mensaje|bolet[íi]n)",
    r"ricevi questa (?:e-?mail|newsletter)",
    r"ontvangt deze (?:e-?mail|nieuwsbrief)",
    r"est[áa] recebendo",
    r"recebeu este e-?mail",
    r"otrzymujesz (?:tę wiadomość|ten (?:e-?mail|newsletter))",
    r"вы (?:получили|получаете) это письмо",
    r"вы подписаны",
    r"您收到此邮件",
    r"您订阅了",
    r"配信を希望されない",
)
BULK_FOOTER_STOP = Phrases(
    r"to unsubscribe",
    r"quick unsubscribe",
    r"subscribe/unsubscribe",
    r"if you (?:no longer wish|do not (?:want|wish)|don't (?:want|wish)|would (?:rather|prefer)"
    r" not|wish to stop) to receive",
    r"to stop receiving",
    r"to be removed from",
    r"to opt[ -]out",
    r"(?:manage|update|change) your (?:subscription|e-?mail preferences|preferences|profile)",
    r"newsletter (?:abbestellen|abmelden)",
    r"keine [^.!?]{0,60}mehr [^.!?]{0,40}erhalten",
    r"abonnement [^.!?]{0,40}beenden",
    r"d[ée]sinscri",
    r"d[ée]sabonn",
    r"darse de baja",
    r"darte de baja",
    r"cancelar (?:la|su|tu) suscripci[óo]n",
    r"si no desea(?:s)? recibir",
    r"cancellarti",
    r"disiscriv",
    r"annullare l'iscrizione",
    r"se non (?:desideri|vuoi) (?:più )?ricevere",
    r"afmelden",
    r"uitschrijven",
    r"descadastr",
    r"se n[ãa]o (?:deseja|quiser) (?:mais )?receber",
    r"wypisać",
    r"wypisz się",
    r"zrezygnować z (?:subskrypcji|newslettera)",
    r"отписаться",
    r"отказаться от (?:рассылки|подписки)",
    r"退订",
    r"取消订阅",
    r"配信停止",
    r"配信解除",
    r"購読解除",
)
# Gate before the footer patterns: each of them contains one of these.
BULK_FOOTER_GATE = (
    "subscri", "unsub", "opt", "remove", "receiv", "sent to", "member of", "registri",
    "erhalten", "abmeld", "abbestell", "abonn", "inscri", "recev", "recib", "baja",
    "ricev", "iscri", "ontvang", "afmeld", "uitschrij", "receb", "descadastr", "otrzym",
    "wypis", "zrezygn", "получ", "подпис", "отпис", "отказ", "订", "收到", "配信", "購読",
    "registered", "leave-", "signoff",
)  # fmt: skip

# Where list and newsletter mail comes from when it carries no list header.
BULK_SENDER_DOMAINS = frozenset(
    {"yahoogroups.com", "yahoogroups.de", "yahoogroups.co.uk", "egroups.com", "googlegroups.com"}
)
# Return paths of newsletter software: VERP bounce addresses and error collectors.
BULK_RETURN_PATH = re.compile(
    r"^(?:bounces?|errors?|return|mailer|listbounce)[-+._=]|[-+._](?:bounces?|errors?)@"
    r"|^owner-|-owner@|-request@|^(?:bounce|b)[-+][\w.=-]*\d"
)
BULK_RETURN_PATH_GATE = ("bounce", "error", "return", "mailer", "owner", "request", "b-", "b+")
# Local parts of addresses that only send newsletters and notices.
BULK_SENDER_LOCAL = re.compile(
    r"^(?:news(?:letters?)?|alerts?|mailings?|marketing|promo(?:tions?)?|offers?|info|updates?"
    r"|announce(?:ments?)?|do[-_.]?not[-_.]?reply|no[-_.]?reply|listserv|majordomo)$"
)
# Display names of the same kind: "Effector List", "Acme Newsletter".
BULK_SENDER_NAME = re.compile(r"\b(?:list|newsletter|news|e-?zine|mailing|digest)\b")

# Subject prefixes a person adds when replying to or forwarding someone else's mail.
REPLY_PREFIX = re.compile(
    r"^\s*(?:re|aw|sv|vs|antw|odp|réf|ref|rif|r|ha|ynt|回复|回覆|答复|返信)\s*(?:\[\d+\])?\s*[:\uff1a]",
)
FORWARD_PREFIX = re.compile(
    r"^\s*(?:fwd?|wg|tr|rv|enc|i|doorst|pd|vb|vl|fs|пересл|переслать|转发|轉寄|転送)\s*[:\uff1a]",
)
