"""visible_text: the new text of a reply, on replies written the way each client and
language writes them, and on arbitrary text (hypothesis); the corpus is checked in
test_corpus.py.

Every hand-written case asserts both halves: the new text stays and the history goes.
"""

# ruff: noqa: RUF001 -- mail is multilingual: Cyrillic words, CJK full-width
# punctuation and typographic dashes and quotes are what we match, not typos.

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers.visible import MAX_SCANNED_CHARS, visible_text
from parsers.visible_lines import MOBILE_HEADS
from parsers.visible_markers import LANGUAGES as MARKER_TABLES

OLD = "Please restart the printer and tell us if that helps."


def _assert_split(reply: str, new: str | tuple[str, ...], old: str | tuple[str, ...]) -> str:
    text = visible_text(reply)
    for line in (new,) if isinstance(new, str) else new:
        assert line in text, f"lost {line!r}"
    for line in (old,) if isinstance(old, str) else old:
        assert line not in text, f"kept {line!r}"
    return text


# language -> (new text, Outlook's From / Sent / To / Subject lines, "Original Message")
OUTLOOK: dict[str, tuple[str, tuple[str, str, str, str], str]] = {
    "en": (
        "Thanks, the printer works again.",
        (
            "From: Help Desk <helpdesk@example.com>",
            "Sent: Monday, April 2, 2012 6:26 PM",
            "To: Megan One <megan@example.com>",
            "Subject: RE: [INC-1042] Printer offline",
        ),
        "-----Original Message-----",
    ),
    "de": (
        "Danke, der Drucker funktioniert wieder.",
        (
            "Von: Help Desk <helpdesk@example.com>",
            "Gesendet: Montag, 2. April 2012 18:26",
            "An: Megan One <megan@example.com>",
            "Betreff: AW: [INC-1042] Drucker offline",
        ),
        "-----Ursprüngliche Nachricht-----",
    ),
    "fr": (
        "Merci, l'imprimante fonctionne à nouveau.",
        (
            "De\u00a0: Help Desk <helpdesk@example.com>",
            "Envoyé\u00a0: lundi 2 avril 2012 18:26",
            "À\u00a0: Megan One <megan@example.com>",
            "Objet\u00a0: RE: [INC-1042] Imprimante hors ligne",
        ),
        "-----Message d'origine-----",
    ),
    "es": (
        "Gracias, la impresora funciona de nuevo.",
        (
            "De: Help Desk <helpdesk@example.com>",
            "Enviado el: lunes, 2 de abril de 2012 18:26",
            "Para: Megan One <megan@example.com>",
            "Asunto: RE: [INC-1042] Impresora sin conexión",
        ),
        "-----Mensaje original-----",
    ),
    "it": (
        "Grazie, la stampante funziona di nuovo.",
        (
            "Da: Help Desk <helpdesk@example.com>",
            "Inviato: lunedì 2 aprile 2012 18:26",
            "A: Megan One <megan@example.com>",
            "Oggetto: R: [INC-1042] Stampante offline",
        ),
        "-----Messaggio originale-----",
    ),
    "nl": (
        "Bedankt, de printer werkt weer.",
        (
            "Van: Help Desk <helpdesk@example.com>",
            "Verzonden: maandag 2 april 2012 18:26",
            "Aan: Megan One <megan@example.com>",
            "Onderwerp: RE: [INC-1042] Printer offline",
        ),
        "-----Oorspronkelijk bericht-----",
    ),
    "pt": (
        "Obrigado, a impressora voltou a funcionar.",
        (
            "De: Help Desk <helpdesk@example.com>",
            "Enviada em: segunda-feira, 2 de abril de 2012 18:26",
            "Para: Megan One <megan@example.com>",
            "Assunto: RES: [INC-1042] Impressora offline",
        ),
        "-----Mensagem original-----",
    ),
    "pl": (
        "Dziękuję, drukarka znowu działa.",
        (
            "Od: Help Desk <helpdesk@example.com>",
            "Wysłano: poniedziałek, 2 kwietnia 2012 18:26",
            "Do: Megan One <megan@example.com>",
            "Temat: RE: [INC-1042] Drukarka offline",
        ),
        "-----Wiadomość oryginalna-----",
    ),
    "ru": (
        "Спасибо, принтер снова работает.",
        (
            "От: Help Desk <helpdesk@example.com>",
            "Отправлено: 2 апреля 2012 г. 18:26",
            "Кому: Megan One <megan@example.com>",
            "Тема: RE: [INC-1042] Принтер не печатает",
        ),
        "-----Исходное сообщение-----",
    ),
    "zh": (
        "谢谢，打印机又能用了。",
        (
            "发件人: Help Desk <helpdesk@example.com>",
            "发送时间: 2012年4月2日 18:26",
            "收件人: Megan One <megan@example.com>",
            "主题: 回复: [INC-1042] 打印机离线",
        ),
        "-----原始邮件-----",
    ),
    "ja": (
        "ありがとうございます。プリンターが直りました。",
        (
            "差出人: Help Desk <helpdesk@example.com>",
            "送信日時: 2012年4月2日 18:26",
            "宛先: Megan One <megan@example.com>",
            "件名: RE: [INC-1042] プリンターがオフライン",
        ),
        "-----元のメッセージ-----",
    ),
}
LANGUAGES = sorted(OUTLOOK)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_outlook_desktop_header_block(lang: str) -> None:
    new, header, _ = OUTLOOK[lang]
    reply = "\n".join([new, "", "Megan", "", *header, "", OLD])
    assert _assert_split(reply, (new, "Megan"), (header[0], OLD)) == f"{new}\n\nMegan"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_outlook_web_underscore_rule(lang: str) -> None:
    new, header, _ = OUTLOOK[lang]
    reply = "\r\n".join([new, "", "_" * 32, *header, "", OLD, ""])
    assert _assert_split(reply, new, ("____", OLD)) == new


@pytest.mark.parametrize("lang", LANGUAGES)
def test_outlook_original_message_separator(lang: str) -> None:
    new, header, separator = OUTLOOK[lang]
    with_header = "\n".join([new, "", separator, *header, "", OLD])
    assert _assert_split(with_header, new, (separator, OLD)) == new
    # Some clients write the separator and the old text with no header block at all.
    bare = "\n".join([new, "", separator, "", OLD])
    assert _assert_split(bare, new, (separator, OLD)) == new


@pytest.mark.parametrize("lang", LANGUAGES)
def test_outlook_mobile_bold_labels_and_fullwidth_colons(lang: str) -> None:
    new, header, _ = OUTLOOK[lang]
    colon = "：" if lang in ("zh", "ja") else ":"  # CJK layouts write full-width colons
    bold = []
    for line in header:
        label, value = line.split(":", 1)
        bold.append(f"*{label.strip()}{colon}* {value.strip()}")
    reply = "\n".join([new, "", "Get Outlook for iOS<https://aka.ms/o0ukef>", "", *bold, OLD])
    assert _assert_split(reply, new, ("Get Outlook", bold[0], OLD)) == new


@pytest.mark.parametrize("lang", LANGUAGES)
def test_html_converted_outlook_table_without_quote_marks(lang: str) -> None:
    """mime.html_to_text drops blank lines and Outlook's table puts values on lines
    of their own: the block must still be found by which fields it names."""
    new, header, _ = OUTLOOK[lang]
    table: list[str] = []
    for line in header:
        label, value = line.split(":", 1)
        table += [f"{label.strip()}:", value.strip()]
    reply = "\n".join([new, "Regards, Megan", *table, OLD])
    _assert_split(reply, (new, "Regards, Megan"), (header[1], OLD))


# language -> attributions as (Gmail, Apple Mail, Thunderbird) write them
ATTRIBUTIONS: dict[str, tuple[str, str, str]] = {
    "en": (
        "On Mon, Apr 2, 2012 at 6:26 PM, Megan One <megan@example.com> wrote:",
        "On Apr 3, 2012, at 4:19 PM, bob <bob@example.com> wrote:",
        "On 04/02/2012 06:26 PM, Megan One wrote:",
    ),
    "de": (
        "Am Mo., 2. Apr. 2012 um 18:26 Uhr schrieb Megan One <megan@example.com>:",
        "Am 03.04.2012 um 16:19 schrieb bob <bob@example.com>:",
        "Am 02.04.2012 18:26, schrieb Megan One:",
    ),
    "fr": (
        "Le lun. 2 avr. 2012 à 18:26, Megan One <megan@example.com> a écrit :",
        "Le 3 avr. 2012 à 16:19, bob <bob@example.com> a écrit :",
        "Le 02/04/2012 18:26, Megan One a écrit\u00a0:",
    ),
    "es": (
        "El lun., 2 abr. 2012 a las 18:26, Megan One (<megan@example.com>) escribió:",
        "El 3 abr 2012, a las 16:19, bob <bob@example.com> escribió:",
        "El 02/04/12 18:26, Megan One escribió:",
    ),
    "it": (
        "Il giorno lun 2 apr 2012 alle ore 18:26 Megan One <megan@example.com> ha scritto:",
        "Il giorno 3 apr 2012, alle ore 16:19, bob <bob@example.com> ha scritto:",
        "Il 02/04/2012 18:26, Megan One ha scritto:",
    ),
    "nl": (
        "Op ma 2 apr. 2012 om 18:26 schreef Megan One <megan@example.com>:",
        "Op 3 apr. 2012 om 16:19 heeft bob <bob@example.com> het volgende geschreven:",
        "Op 02-04-12 18:26, Megan One schreef:",
    ),
    "pt": (
        "Em seg., 2 de abr. de 2012 às 18:26, Megan One <megan@example.com> escreveu:",
        "Em 3 de abr de 2012, às 16:19, bob <bob@example.com> escreveu:",
        "Em 02/04/2012 18:26, Megan One escreveu:",
    ),
    "pl": (
        "W dniu pon., 2.04.2012 o 18:26 Megan One <megan@example.com> napisał(a):",
        "Wiadomość napisana przez bob <bob@example.com> w dniu 03.04.2012, o godz. 16:19:",
        "W dniu 02.04.2012 18:26, Megan One pisze:",
    ),
    "ru": (
        "пн, 2 апр. 2012 г. в 18:26, Megan One <megan@example.com>:",
        "3 апр. 2012 г., в 16:19, bob <bob@example.com> написал(а):",
        "02.04.2012 18:26, Megan One пишет:",
    ),
    "zh": (
        "Megan One <megan@example.com> 于2012年4月2日周一 下午6:26写道：",
        "在 2012年4月3日，下午4:19，bob <bob@example.com> 写道：",
        "在 2012/4/2 18:26, Megan One 写道:",
    ),
    "ja": (
        "2012年4月2日(月) 18:26 Megan One <megan@example.com>:",
        "2012/04/03 16:19、bob <bob@example.com> のメッセージ:",
        "2012/04/02 18:26 に Megan One さんは書きました:",
    ),
}
CLIENTS = ("gmail", "apple", "thunderbird")
ATTRIBUTION_CASES = [
    (lang, client, attribution)
    for lang, attributions in sorted(ATTRIBUTIONS.items())
    for client, attribution in zip(CLIENTS, attributions, strict=True)
]
ATTRIBUTION_IDS = [f"{lang}-{client}" for lang, client, _ in ATTRIBUTION_CASES]


@pytest.mark.parametrize(("lang", "client", "attribution"), ATTRIBUTION_CASES, ids=ATTRIBUTION_IDS)
def test_attribution_before_quote(lang: str, client: str, attribution: str) -> None:
    new = OUTLOOK[lang][0]
    reply = "\n".join([new, "", attribution, "", f"> {OLD}", ">", "> Help Desk"])
    assert _assert_split(reply, new, (attribution, OLD)) == new


@pytest.mark.parametrize(("lang", "client", "attribution"), ATTRIBUTION_CASES, ids=ATTRIBUTION_IDS)
def test_attribution_wrapped_over_two_lines(lang: str, client: str, attribution: str) -> None:
    new = OUTLOOK[lang][0]
    cut = attribution.rfind(" ", 0, len(attribution) * 2 // 3)
    first, second = attribution[:cut], attribution[cut + 1 :]
    reply = "\n".join([new, "", first, second, "", f"> {OLD}"])
    assert _assert_split(reply, new, (first, second, OLD)) == new


@pytest.mark.parametrize(("lang", "client", "attribution"), ATTRIBUTION_CASES, ids=ATTRIBUTION_IDS)
def test_attribution_in_html_converted_text_has_no_quote_marks(
    lang: str, client: str, attribution: str
) -> None:
    new = OUTLOOK[lang][0]
    reply = "\n".join([new, attribution, OLD, "Help Desk"])
    assert _assert_split(reply, new, (attribution, OLD, "Help Desk")) == new


def test_attribution_wrapped_over_three_lines() -> None:
    reply = (
        "I get proper rendering as well.\n\n"
        "On Dec 16, 2011, at 12:47 PM, Corey Donohoe\n<reply@reply.github.com>\nwrote:\n\n"
        f"> {OLD}\n"
    )
    assert _assert_split(reply, "proper rendering", ("Corey", "wrote:", OLD)) == (
        "I get proper rendering as well."
    )


def test_attribution_split_inside_the_address() -> None:
    reply = (
        "Test reply\n\n2014-10-17 11:28 GMT+03:00 Postmaster <\n"
        "postmaster@sandbox.mailgun.org>:\n\n> First from site\n"
    )
    assert _assert_split(reply, "Test reply", ("Postmaster", "First from site")) == "Test reply"


def test_decorated_attribution_without_colon() -> None:
    reply = "Short answer.\n\n------On 12/29/1987 17:32 PM, Julius Caesar wrote-----\n\nOld text.\n"
    assert _assert_split(reply, "Short answer.", ("Julius", "Old text.")) == "Short answer."


def test_yahoo_attribution_before_unquoted_headers() -> None:
    reply = (
        "Sounds great.\n\n--- On Wed, 4/4/12, bob@example.com <bob@example.com> wrote:\n\n\n"
        "From: bob@example.com <bob@example.com>\nSubject: New booking\nTo: me@example.com\n\n"
        "New Booking Inquiry\n"
    )
    _assert_split(reply, "Sounds great.", ("wrote", "New Booking Inquiry"))


# language -> Gmail's and Apple Mail's forwarded-message markers
FORWARDS: dict[str, tuple[str, str]] = {
    "en": ("---------- Forwarded message ---------", "Begin forwarded message:"),
    "de": (
        "---------- Weitergeleitete Nachricht ---------",
        "Anfang der weitergeleiteten Nachricht:",
    ),
    "fr": ("---------- Message transféré ---------", "Début du message réexpédié :"),
    "es": ("---------- Mensaje reenviado ---------", "Inicio del mensaje reenviado:"),
    "it": ("---------- Messaggio inoltrato ---------", "Inizio messaggio inoltrato:"),
    "nl": ("---------- Doorgestuurd bericht ---------", "Begin doorgestuurd bericht:"),
    "pt": ("---------- Mensagem encaminhada ---------", "Início da mensagem reencaminhada:"),
    "pl": ("---------- Przekazana wiadomość ---------", "Początek przekazywanej wiadomości:"),
    "ru": ("---------- Пересылаемое сообщение ---------", "Начало переадресованного сообщения:"),
    "zh": ("---------- 转发的邮件 ---------", "以下是转发的邮件："),
    "ja": ("---------- 転送されたメッセージ ---------", "転送されたメッセージ:"),
}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("style", [0, 1], ids=["gmail", "apple"])
def test_forwarded_message_marker(lang: str, style: int) -> None:
    new = OUTLOOK[lang][0]
    marker = FORWARDS[lang][style]
    header = OUTLOOK[lang][1]
    reply = "\n".join([new, "", marker, "", header[0], header[2], "", OLD])
    assert _assert_split(reply, new, (marker, header[0], OLD)) == new


def test_thunderbird_and_lotus_forwards() -> None:
    for marker in (
        "-------- Forwarded Message --------",
        "-------- Weitergeleitete Nachricht --------",
        "----- Forwarded by Jane Doe/ACME on 03/04/2012 04:19 PM -----",
    ):
        _assert_split(f"See below.\n\n{marker}\nOld text.\n", "See below.", (marker, "Old text."))


def test_a_mail_that_is_only_a_forward_keeps_the_forward() -> None:
    forward = (
        "---------- Forwarded message ---------\n"
        "From: Jane <jane@example.com>\nDate: Mon, Apr 2, 2012 at 6:26 PM\n"
        "Subject: VPN down\nTo: Megan <megan@example.com>\n\nThe VPN is down since 9am."
    )
    assert visible_text(forward) == forward


def test_lotus_notes_header_blocks() -> None:
    tabbed = (
        "Thanks, fixed.\n\n\n\nFrom:\tJane Doe/ACME@ACME\nTo:\tJohn Smith/ACME@ACME\nCc:\t\n"
        "Date:\t04/03/2012 04:19 PM\nSubject:\tRe: Printer\n\nOld text.\n"
    )
    assert _assert_split(tabbed, "Thanks, fixed.", ("Jane", "Old text.")) == "Thanks, fixed."
    bare = (
        "Thanks, fixed.\n\nJane Doe/ACME@ACME\n04/03/2012 04:19 PM\n"
        "To\nJohn Smith/ACME@ACME\ncc\nSubject\nRe: Printer\n\nOld text.\n"
    )
    assert _assert_split(bare, "Thanks, fixed.", ("Jane", "Old text.")) == "Thanks, fixed."
    notes_wrote = (
        'Thanks, fixed.\n\n"Jane Doe" <jane@example.com> wrote on 04/03/2012 04:19:18 PM:\n\n'
        "> Old text.\n"
    )
    assert _assert_split(notes_wrote, "Thanks, fixed.", ("Jane", "Old text.")) == "Thanks, fixed."


# language -> what phone apps append
MOBILE: dict[str, tuple[str, ...]] = {
    "en": (
        "Sent from my iPhone",
        "Sent from my Verizon Wireless BlackBerry",
        "Sent from Outlook for Android",
        "Get Outlook for iOS",
        "Sent from Yahoo Mail on Android",
        "Sent from my Samsung Galaxy smartphone.",
    ),
    "de": ("Von meinem iPhone gesendet", "Gesendet von meinem Samsung Galaxy Smartphone."),
    "fr": ("Envoyé de mon iPhone", "Envoyé depuis mon appareil Galaxy"),
    "es": ("Enviado desde mi iPhone", "Enviado desde mi dispositivo Samsung"),
    "it": ("Inviato da iPhone", "Inviato dal mio smartphone Samsung Galaxy."),
    "nl": ("Verzonden met mijn iPhone", "Verstuurd vanaf mijn iPad"),
    "pt": ("Enviado do meu iPhone", "Enviado do meu smartphone Samsung Galaxy"),
    "pl": ("Wysłane z iPhone'a", "Wysłane z aplikacji Outlook dla systemu Android"),
    "ru": ("Отправлено с iPhone", "Отправлено из мобильной Почты Mail.ru"),
    "zh": ("发自我的iPhone", "从我的 iPhone 发送"),
    "ja": ("iPhoneから送信", "Outlook for iOS を入手"),
}
MOBILE_CASES = [(lang, line) for lang, lines in sorted(MOBILE.items()) for line in lines]


@pytest.mark.parametrize(("lang", "line"), MOBILE_CASES, ids=[c[1] for c in MOBILE_CASES])
def test_mobile_lines(lang: str, line: str) -> None:
    new = OUTLOOK[lang][0]
    gmail = ATTRIBUTIONS[lang][0]
    assert _assert_split(f"{new}\n\n{line}", new, line) == new
    reply = f"{new}\n\n{line}\n\n{gmail}\n\n> {OLD}"
    assert _assert_split(reply, new, (line, gmail, OLD)) == new


def test_sentences_that_start_like_mobile_lines_stay() -> None:
    for sentence in (
        "Sent from my desk, is much easier then my mobile phone.",
        "Sent from my desk",
        "Inviato da Marco ieri sera",
    ):
        assert visible_text(f"Hello\n\n{sentence}") == f"Hello\n\n{sentence}"


def test_signature_dash_dash_space() -> None:
    reply = "The VPN works now.\n\n-- \nMegan One\nIT, 3rd floor\n+1 555 0100\n"
    assert _assert_split(reply, "The VPN works now.", ("Megan One", "+1 555")) == (
        "The VPN works now."
    )


def test_signature_before_the_quote_and_answers_after_it_stay() -> None:
    reply = (
        "Hello\n\n-- \nxxx\nSent with Sparrow (http://www.sparrowmailapp.com/?sig)\n\n"
        "On Tuesday, April 3, 2012 at 4:55 PM, xxx wrote:\n\n> Hello\n\nOne more thing.\n"
    )
    assert _assert_split(reply, ("Hello", "One more thing."), ("xxx", "Sparrow")) == (
        "Hello\n\nOne more thing."
    )


def test_dashes_inside_a_line_or_above_a_long_text_are_not_a_signature() -> None:
    assert visible_text("A fix -- not a signature.\nkthxbai") == (
        "A fix -- not a signature.\nkthxbai"
    )
    long_part = "\n".join(f"Step {n}: do the thing." for n in range(20))
    assert visible_text(f"Intro\n--\n{long_part}") == f"Intro\n--\n{long_part}"


def test_inline_answers_between_quotes_are_all_kept() -> None:
    reply = (
        "On Tue, Apr 29, 2014 at 4:22 PM, Tim <tim@example.com> wrote:\n"
        "> Which printer?\n"
        "\n"
        "The one on the 3rd floor.\n"
        "\n"
        "> Since when?\n"
        ">\n"
        "Since Monday.\n"
        "> And the error?\n"
        "PC LOAD LETTER\n"
        "\n"
        "> -- Tim\n"
    )
    text = _assert_split(
        reply,
        ("The one on the 3rd floor.", "Since Monday.", "PC LOAD LETTER"),
        ("Which printer?", "Since when?", "And the error?", "Tim"),
    )
    assert text == "The one on the 3rd floor.\n\nSince Monday.\n\nPC LOAD LETTER"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_inline_answers_and_nested_quotes_in_each_language(lang: str) -> None:
    new = OUTLOOK[lang][0]
    gmail, _, thunderbird = ATTRIBUTIONS[lang]
    reply = "\n".join(
        [
            gmail,
            f"> {OLD}",
            f"> {thunderbird}",
            ">> Is the printer on?",
            "",
            new,
            "",
            "> Which floor?",
            "3",
            "> -- ",
            "> Help Desk",
        ]
    )
    text = _assert_split(reply, (new, "3"), (gmail, OLD, thunderbird, "printer on", "floor"))
    assert text == f"{new}\n\n3"


def test_nested_quotes_and_text_after_them() -> None:
    reply = (
        "Test reply\nOn 04/19/2011 07:10 AM, Roman wrote:\n\n>Test test\n"
        ">On 04/19/2011 07:10 AM, Roman wrote:\n>\n>>\n>> Test.\n>>\n>> Roman\n\n"
        "Regards, Megan"
    )
    assert _assert_split(reply, ("Test reply", "Regards, Megan"), ("Test test", "Roman")) == (
        "Test reply\n\nRegards, Megan"
    )


def test_thunderbird_reply_below_the_quote() -> None:
    reply = "On 04/02/2012 06:26 PM, Megan One wrote:\n> Hi\nHello"
    assert _assert_split(reply, "Hello", ("Megan", "Hi")) == "Hello"


def test_mailing_list_footer() -> None:
    reply = (
        "Is the list archived anywhere?\n\n"
        "_______________________________________________\n"
        "notmuch mailing list\nnotmuch@notmuchmail.org\n"
    )
    assert _assert_split(reply, "archived", "mailing list") == "Is the list archived anywhere?"


def test_weak_attribution_without_quote_is_kept() -> None:
    text = "The log wrote:\nERROR 42: disk full\nPlease help."
    assert visible_text(text) == text


def test_a_line_starting_with_on_is_not_an_attribution() -> None:
    text = "Blah-blah-blah\nOn your remote host you can run:\n\n    telnet 127.0.0.1 52698"
    assert visible_text(text) == text


def test_header_labels_without_a_date_are_not_a_header_block() -> None:
    text = "To: all staff\nSubject: the move\n\nWe move to the 3rd floor on Monday."
    assert visible_text(text) == text
    form = "Dzień dobry,\nOd: poniedziałek\nDo: piątek\nTemat: urlop\nProszę o akceptację."
    assert visible_text(form) == form


def test_whitespace_is_normalised() -> None:
    assert visible_text("\n\n  Hello  \r\n\r\n\r\n\r\nWorld\t \n\n") == "  Hello\n\nWorld"
    assert visible_text("") == ""
    assert visible_text("> only\n> quoted") == ""


def test_every_phone_line_pattern_starts_with_a_letter() -> None:
    """visible_lines only runs the phone regex on lines starting with a letter one of
    the patterns starts with; a pattern starting with "(" would never be tried."""
    patterns = [p for m in MARKER_TABLES for p in (*m.mobile_prefixes, *m.mobile_lines)]
    assert all(pattern[0].isalpha() for pattern in patterns)
    assert {p[0].casefold() for p in patterns} <= MOBILE_HEADS


def _head(text: str) -> str:
    """The lines of `text` that start in its first MAX_SCANNED_CHARS characters."""
    return text[: text.rfind("\n", 0, MAX_SCANNED_CHARS)]


def test_large_inputs_are_read_up_to_the_scan_limit() -> None:
    """Timings are measured, not asserted (docs in the report); these must finish and
    give the right answer: a regex that backtracks would hang here."""
    assert visible_text("> quoted line of some length here\n" * 30_000) == ""
    body = "\n".join(f"line {n} of a long body" for n in range(100_000))
    assert visible_text(body) == _head(body)
    assert visible_text("x" * 200_000) == "x" * 200_000
    assert visible_text("x" * 1_000_000) == "x" * MAX_SCANNED_CHARS
    assert visible_text("On " + "x" * 200_000 + " wrote:\n> q") == "On " + "x" * 200_000 + " wrote:"
    dashes = "\n".join(["--"] * 100_000)  # only "signatures": nothing else, so all is kept
    assert visible_text(dashes) == _head(dashes)
    headers = "\n".join(["From: x", "To: y"] * 50_000)  # no date: not a reply header
    assert visible_text(headers) == _head(headers)
    colons = "a:\n" * 5_000_000  # 83 s before the limit
    assert visible_text(colons) == _head(colons).rstrip("\n")


# hypothesis: lines drawn from what mail bodies are made of, markers included
LINES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "Hello",
            "Thanks, it works.",
            "> quoted",
            ">> deeper",
            "-- ",
            "--",
            "_" * 32,
            "-----Original Message-----",
            "---------- Forwarded message ---------",
            "Begin forwarded message:",
            "From: Help Desk <helpdesk@example.com>",
            "Sent: Monday, April 2, 2012 6:26 PM",
            "To: Megan <megan@example.com>",
            "Subject: RE: Printer",
            "Von: Help Desk",
            "Betreff: AW: Drucker",
            "To",
            "cc",
            "Subject",
            "On Mon, Apr 2, 2012 at 6:26 PM, Megan One <megan@example.com> wrote:",
            "On Mon, Apr 2, 2012 at 6:26 PM, Megan One",
            "<megan@example.com> wrote:",
            "wrote:",
            "bob wrote:",
            "Am 02.04.2012 18:26, schrieb Megan One:",
            "2012年4月2日(月) 18:26 Megan One <megan@example.com>:",
            "Sent from my iPhone",
            "Get Outlook for iOS",
            "riak-users mailing list",
            "04/03/2012 04:19 PM",
            "Jane Doe/ACME@ACME",
            "*From:* Help Desk",
            "发件人：Help Desk",
            "Megan <m@example.com> 于2012年4月2日周一",
            "下午6:26写道：",
            "2011/4/7 Nathan <support@example.com>",
            "--- On Wed, 4/4/12, bob@example.com wrote:",
            "------On 12/29/1987 17:32 PM, Julius Caesar wrote-----",
            "----- Forwarded by Jane Doe/ACME on 03/04/2012 04:19 PM -----",
            "iPhoneから送信",
            "  > indented quote",
            "- item",
            "Apr.",
            "x" * 301,
        ]
    ),
)
BODIES = st.tuples(st.lists(LINES, max_size=30), st.sampled_from(["\n", "\r\n", "\r"])).map(
    lambda parts: parts[1].join(parts[0])
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(BODIES)
def test_never_raises_and_is_idempotent(text: str) -> None:
    once = visible_text(text)
    assert visible_text(once) == once


@settings(max_examples=200)
@given(st.text())
def test_arbitrary_text_is_idempotent(text: str) -> None:
    once = visible_text(text)
    assert visible_text(once) == once


def _plain_line(line: str) -> bool:
    """Not blank, not quoted: text the sender may have written."""
    return bool(line.strip()) and not line.lstrip().startswith(">")


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(BODIES)
def test_never_empty_when_something_unquoted_was_written(text: str) -> None:
    if any(_plain_line(line) for line in text.splitlines()):
        assert visible_text(text).strip()
    else:
        assert visible_text(text) == ""


@settings(max_examples=200)
@given(BODIES)
def test_output_lines_come_from_the_input(text: str) -> None:
    source = {line.rstrip() for line in text.splitlines()}
    for line in visible_text(text).splitlines():
        assert line in source or not line
