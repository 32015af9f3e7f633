"""What mail clients write around quoted history, one table row per language.

Data only: `parsers.visible_lines` compiles these into its regexes once, at import. A row
lists the strings as the clients print them (Outlook desktop, OWA and mobile; Gmail;
Apple Mail; Thunderbird; Lotus Notes; the phone mail apps), so adding a language or a
client's wording is a one-line change that the tests then cover.

Plain strings are matched case-insensitively as whole words; the fields that say
"regex" hold regex fragments and are joined into alternations, so they must not use
groups that capture.
"""

# ruff: noqa: RUF001, RUF003 -- mail is multilingual: Cyrillic words, CJK full-width
# punctuation and typographic dashes and quotes are what we match, not typos.

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Markers:
    """One language's markers. Header labels are grouped by the field they name:
    a reply header block is recognised by *which* fields it has, not by its wording."""

    code: str
    header_from: tuple[str, ...] = ()
    header_date: tuple[str, ...] = ()
    header_to: tuple[str, ...] = ()
    header_cc: tuple[str, ...] = ()
    header_subject: tuple[str, ...] = ()
    # Text between dashes on a line of its own: "-----Original Message-----".
    separators: tuple[str, ...] = ()
    # A whole line ending in a colon: Apple Mail's "Begin forwarded message:".
    forward_intros: tuple[str, ...] = ()
    # Lotus Notes: "----- Forwarded by Jane Doe/ACME on 03/04/2012 16:19 -----".
    forwarded_by: tuple[str, ...] = ()
    # regex: how an attribution line may start ("On", "Am", "Le" ...).
    openers: tuple[str, ...] = ()
    # The verb just before the attribution's final colon ("wrote", "a écrit"), as written.
    endings: tuple[str, ...] = ()
    # regex: a verb inside the attribution, counted only when the line opens like one
    # or names an address ("Am 2. Apr. 2012 um 18:26 schrieb Megan <m@x>:").
    inner_verbs: tuple[str, ...] = ()
    # A phone app's line up to its device words: "Sent from" [my Verizon] iPhone.
    mobile_prefixes: tuple[str, ...] = ()
    # regex starting with a letter: a phone app's complete line ("get outlook for ios").
    mobile_lines: tuple[str, ...] = ()
    # How a short phone app line ends, where the device comes first ("iPhoneから送信").
    mobile_suffixes: tuple[str, ...] = ()


# Words that make "Sent from my X" a phone line and not a sentence ("Sent from my desk, ...").
DEVICE_WORDS: tuple[str, ...] = (
    "iphone",
    "ipad",
    "ipod",
    "android",
    "blackberry",
    "samsung",
    "galaxy",
    "huawei",
    "xiaomi",
    "pixel",
    "nokia",
    "sony",
    "htc",
    "motorola",
    "oneplus",
    "lg",
    "windows",
    "phone",
    "mobile",
    "smartphone",
    "tablet",
    "device",
    "handy",
    "mobilgerät",
    "telefon",
    "téléphone",
    "appareil",
    "móvil",
    "movil",
    "teléfono",
    "dispositivo",
    "celular",
    "cellulare",
    "telefono",
    "telefoon",
    "mobiel",
    "apparaat",
    "telemóvel",
    "telefone",
    "smartfona",
    "telefonu",
    "urządzenia",
    "телефона",
    "устройства",
    "смартфона",
    "outlook",
    "mail",
    "gmail",
    "yahoo",
    "aol",
    "proton",
    "protonmail",
    "почты",
    "mail.ru",
)

# A phone app may append its link: "Get Outlook for iOS<https://aka.ms/o0ukef>".
MOBILE_LINK = r"(?:\s*[<(\[]\S{1,200}[>)\]])?"
# A line ending like a phone app's is one only when it is this short.
MOBILE_SUFFIX_MAX_CHARS = 40

EN = Markers(
    code="en",
    header_from=("From",),
    header_date=("Sent", "Date", "Sent at"),
    header_to=("To",),
    header_cc=("Cc", "Bcc"),
    header_subject=("Subject",),
    separators=(
        "Original Message",
        "Forwarded message",
        "Reply Message",
    ),
    forward_intros=("Begin forwarded message",),
    forwarded_by=("Forwarded by",),
    openers=(r"On\b",),
    endings=("wrote", "writes"),
    inner_verbs=(r"\bwrote on\b",),
    mobile_prefixes=("Sent from", "Sent with", "Sent via", "Sent using"),
    mobile_lines=(r"get outlook for (?:ios|android)", r"download outlook for (?:ios|android)"),
)

DE = Markers(
    code="de",
    header_from=("Von",),
    header_date=("Gesendet", "Datum"),
    header_to=("An",),
    header_cc=("Kopie", "Blindkopie"),
    header_subject=("Betreff", "Thema"),
    separators=("Ursprüngliche Nachricht", "Weitergeleitete Nachricht", "Originalnachricht"),
    forward_intros=("Anfang der weitergeleiteten Nachricht", "Weitergeleitete Nachricht"),
    forwarded_by=("Weitergeleitet von",),
    openers=(r"Am\b",),
    endings=("schrieb",),
    inner_verbs=(r"\bschrieb\b",),
    mobile_prefixes=("Gesendet von", "Gesendet mit"),
    # The German apps put the verb last: "Von meinem iPhone gesendet".
    mobile_lines=(
        r"von (?:meinem )?(?:[\w'’.®-]+ ){1,5}gesendet\.?",
        r"outlook für (?:ios|android) (?:herunterladen|beziehen)",
    ),
)

FR = Markers(
    code="fr",
    header_from=("De",),
    header_date=("Envoyé", "Envoyé le", "Date"),
    header_to=("À", "A"),
    header_cc=("Cc", "Copie à"),
    header_subject=("Objet",),
    separators=(
        "Message d'origine",
        "Message d’origine",
        "Message original",
        "Message transféré",
        "Courriel original",
    ),
    forward_intros=(
        "Début du message réexpédié",
        "Début du message transféré",
        "Message transféré",
    ),
    forwarded_by=("Transféré par",),
    openers=(r"Le\b",),
    endings=("a écrit", "écrit"),
    mobile_prefixes=("Envoyé de", "Envoyé depuis", "Envoyé à partir de", "Envoye de"),
    mobile_lines=(
        r"télécharger outlook pour (?:ios|android)",
        r"obtenir outlook pour (?:ios|android)",
    ),
)

ES = Markers(
    code="es",
    header_from=("De",),
    header_date=("Enviado", "Enviado el", "Fecha"),
    header_to=("Para",),
    header_cc=("CC", "CCO"),
    header_subject=("Asunto",),
    separators=("Mensaje original", "Mensaje reenviado"),
    forward_intros=(
        "Inicio del mensaje reenviado",
        "Comienzo del mensaje reenviado",
        "Mensaje reenviado",
    ),
    forwarded_by=("Reenviado por",),
    openers=(r"El\b",),
    endings=("escribió",),
    mobile_prefixes=("Enviado desde", "Enviado con"),
    mobile_lines=(
        r"obtener outlook para (?:ios|android)",
        r"descargar outlook para (?:ios|android)",
    ),
)

IT = Markers(
    code="it",
    header_from=("Da",),
    header_date=("Inviato", "Data"),
    header_to=("A",),
    header_cc=("Cc", "Ccn"),
    header_subject=("Oggetto",),
    separators=("Messaggio originale", "Messaggio inoltrato"),
    forward_intros=("Inizio messaggio inoltrato", "Messaggio inoltrato"),
    forwarded_by=("Inoltrato da",),
    openers=(r"Il giorno\b", r"Il\b"),
    endings=("ha scritto", "scrive"),
    mobile_prefixes=("Inviato da", "Inviato dal", "Inviato con"),
    mobile_lines=(r"scarica outlook per (?:ios|android)", r"ottieni outlook per (?:ios|android)"),
)

NL = Markers(
    code="nl",
    header_from=("Van",),
    header_date=("Verzonden", "Verstuurd", "Datum"),
    header_to=("Aan",),
    header_cc=("CC",),
    header_subject=("Onderwerp",),
    separators=("Oorspronkelijk bericht", "Origineel bericht", "Doorgestuurd bericht"),
    forward_intros=("Begin doorgestuurd bericht", "Doorgestuurd bericht"),
    forwarded_by=("Doorgestuurd door",),
    openers=(r"Op\b",),
    endings=("schreef", "het volgende geschreven"),
    inner_verbs=(r"\bschreef\b",),
    mobile_prefixes=(
        "Verzonden met",
        "Verzonden vanaf",
        "Verzonden vanuit",
        "Verzonden van",
        "Verstuurd met",
        "Verstuurd vanaf",
    ),
    mobile_lines=(
        r"outlook voor (?:ios|android) downloaden",
        r"download outlook voor (?:ios|android)",
    ),
)

PT = Markers(
    code="pt",
    header_from=("De",),
    header_date=("Enviada em", "Enviado em", "Enviado", "Data"),
    header_to=("Para",),
    header_cc=("Cc",),
    header_subject=("Assunto",),
    separators=(
        "Mensagem original",
        "Mensagem encaminhada",
        "Mensagem reencaminhada",
    ),
    forward_intros=(
        "Início da mensagem reencaminhada",
        "Início da mensagem encaminhada",
        "Mensagem encaminhada",
    ),
    forwarded_by=("Encaminhado por",),
    openers=(r"Em\b", r"No dia\b"),
    endings=("escreveu",),
    mobile_prefixes=("Enviado do", "Enviado a partir do", "Enviado de"),
    mobile_lines=(
        r"obter o outlook para (?:ios|android)",
        r"baixe o outlook para (?:ios|android)",
        r"transferir o outlook para (?:ios|android)",
    ),
)

PL = Markers(
    code="pl",
    header_from=("Od",),
    header_date=("Wysłano", "Wysłane", "Data"),
    header_to=("Do",),
    header_cc=("DW", "UDW"),
    header_subject=("Temat",),
    separators=(
        "Wiadomość oryginalna",
        "Oryginalna wiadomość",
        "Przekazana wiadomość",
        "Wiadomość przekazana",
    ),
    forward_intros=(
        "Początek przekazywanej wiadomości",
        "Początek przekazanej wiadomości",
        "Przekazana wiadomość",
    ),
    forwarded_by=("Przekazane przez",),
    openers=(r"W dniu\b", r"Dnia\b", r"Wiadomość napisana przez\b"),
    endings=("pisze", "napisał", "napisała", "napisał(a)"),
    inner_verbs=(r"\bnapisana przez\b",),
    mobile_prefixes=("Wysłane z", "Wysłano z"),
    mobile_lines=(r"pobierz (?:aplikację )?outlook dla (?:systemu )?(?:ios|android)",),
)

RU = Markers(
    code="ru",
    header_from=("От",),
    header_date=("Отправлено", "Дата"),
    header_to=("Кому",),
    header_cc=("Копия",),
    header_subject=("Тема",),
    separators=(
        "Исходное сообщение",
        "Пересылаемое сообщение",
        "Пересланное сообщение",
        "Перенаправленное сообщение",
    ),
    forward_intros=(
        "Начало переадресованного сообщения",
        "Пересылаемое сообщение",
        "Пересланное сообщение",
    ),
    forwarded_by=("Переслано",),
    # Russian clients start with the date: "02.04.2012 18:26, Megan One пишет:"
    # or the weekday: "пн, 2 апр. 2012 г. в 18:26, Megan One <m@x>:" (Gmail, no verb).
    openers=(r"(?:пн|вт|ср|чт|пт|сб|вс)[,.]",),
    endings=("пишет", "написал", "написала", "написал(а)"),
    mobile_prefixes=("Отправлено с", "Отправлено из"),
    mobile_lines=(r"получить outlook для (?:ios|android)",),
)

ZH = Markers(
    code="zh",
    header_from=("发件人", "寄件者", "寄件人"),
    header_date=("发送时间", "日期", "时间", "寄件日期", "傳送時間"),
    header_to=("收件人", "收件者"),
    header_cc=("抄送", "抄送人", "副本"),
    header_subject=("主题", "主旨"),
    separators=("原始邮件", "原始消息", "转发的邮件", "已转发邮件", "转发邮件", "原始郵件"),
    forward_intros=("以下是转发的邮件", "转发的邮件", "開始轉寄郵件"),
    openers=(r"在", r"於"),
    endings=("写道", "寫道"),
    mobile_lines=(
        r"发自我的\s?[\w .'-]{1,30}",
        r"从我的\s?[\w .'-]{1,30}\s?发送",
        r"获取\s?outlook for (?:ios|android)",
        r"获取适用于\s?(?:ios|android)\s?的\s?outlook",
    ),
)

JA = Markers(
    code="ja",
    header_from=("差出人", "送信者"),
    header_date=("送信日時", "日付", "送信日"),
    header_to=("宛先",),
    header_cc=("CC",),
    header_subject=("件名",),
    separators=("元のメッセージ", "転送されたメッセージ", "転送メッセージ", "オリジナルメッセージ"),
    forward_intros=("転送されたメッセージ", "転送メッセージ"),
    endings=("のメッセージ", "書きました"),
    mobile_lines=(r"outlook for (?:ios|android)\s?を入手",),
    mobile_suffixes=("から送信",),
)

DA = Markers(
    code="da",
    header_from=("Fra",),
    header_date=("Sendt",),
    header_to=("Til",),
    header_subject=("Emne",),
    separators=("Oprindelig meddelelse", "Videresendt meddelelse"),
    forward_intros=("Videresendt meddelelse",),
    openers=(r"Den\b", r"På\b"),
    endings=("skrev",),
    mobile_prefixes=("Sendt fra",),
)

SV = Markers(
    code="sv",
    header_from=("Från",),
    header_date=("Skickat",),
    header_to=("Till",),
    header_cc=("Kopia",),
    header_subject=("Ämne",),
    separators=("Ursprungligt meddelande", "Vidarebefordrat meddelande"),
    forward_intros=("Vidarebefordrat meddelande",),
    openers=(r"Den\b",),
    endings=("skrev",),
    mobile_prefixes=("Skickat från",),
)

NO = Markers(
    code="no",
    header_from=("Fra",),
    header_date=("Sendt",),
    header_to=("Til",),
    header_cc=("Kopi",),
    header_subject=("Emne",),
    separators=("Opprinnelig melding", "Videresendt melding"),
    forward_intros=("Videresendt melding",),
    openers=(r"Den\b", r"På\b"),
    endings=("skrev",),
    mobile_prefixes=("Sendt fra",),
)

# The eleven languages the desk serves, then Danish, Swedish and Norwegian, whose
# Outlook and Apple Mail markers talon's tests showed us and which cost one row each.
LANGUAGES: tuple[Markers, ...] = (EN, DE, FR, ES, IT, NL, PT, PL, RU, ZH, JA, DA, SV, NO)
