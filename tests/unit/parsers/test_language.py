"""guess_language: help-desk sentences in each language we serve, the cases where it must
say None, and arbitrary text (hypothesis)."""

# ruff: noqa: RUF001 -- mail is multilingual: Cyrillic words and CJK full-width
# punctuation are the data, not typos.

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import parsers
from parsers.language import PREFIX_CHARS, guess_language

SAMPLES: dict[str, tuple[str, ...]] = {
    "en": (
        "Thanks, the printer works again.",
        "Hi, my laptop does not start since this morning. Could you please have a look?",
        "I can't log in to the VPN. The error says my password has expired.",
    ),
    "de": (
        "Danke, der Drucker funktioniert wieder.",
        "Hallo, mein Laptop startet seit heute Morgen nicht mehr. Können Sie bitte helfen?",
        "Ich kann mich nicht am VPN anmelden. Viele Grüße, Anna",
    ),
    "fr": (
        "Merci, l'imprimante fonctionne à nouveau.",
        "Bonjour, mon ordinateur ne démarre plus depuis ce matin. Pouvez-vous regarder ?",
        "Je n'arrive pas à me connecter au VPN. Cordialement, Paul",
    ),
    "es": (
        "Gracias, la impresora funciona de nuevo.",
        "Hola, mi portátil no arranca desde esta mañana. ¿Pueden revisarlo por favor?",
        "No puedo conectarme a la VPN. Saludos, Ana",
    ),
    "it": (
        "Grazie, la stampante funziona di nuovo.",
        "Buongiorno, il mio portatile non si accende da stamattina. Potete controllare?",
        "Non riesco a collegarmi alla VPN. Cordiali saluti, Marco",
    ),
    "nl": (
        "Bedankt, de printer werkt weer.",
        "Hallo, mijn laptop start sinds vanochtend niet meer op. Kunnen jullie kijken?",
        "Ik kan niet inloggen op de VPN. Met vriendelijke groeten, Jan",
    ),
    "pt": (
        "Obrigado, a impressora voltou a funcionar.",
        "Olá, o meu portátil não liga desde hoje de manhã. Podem verificar, por favor?",
        "Não consigo ligar à VPN. Atenciosamente, João",
    ),
    "pl": (
        "Dziękuję, drukarka znowu działa.",
        "Dzień dobry, mój laptop nie uruchamia się od rana. Czy możecie sprawdzić?",
        "Nie mogę połączyć się z VPN. Pozdrawiam, Piotr",
    ),
    "ru": (
        "Спасибо, принтер снова работает.",
        "Здравствуйте, мой ноутбук не включается с утра. Можете посмотреть?",
        "Не могу подключиться к VPN. С уважением, Иван",
    ),
    "zh": (
        "谢谢，打印机又能用了。",
        "你好，我的笔记本电脑从今天早上开始无法启动。请帮忙看一下。",
        "我无法连接VPN，密码好像过期了。",
    ),
    "ja": (
        "ありがとうございます。プリンターが直りました。",
        "お疲れ様です。今朝からノートパソコンが起動しません。確認をお願いします。",
        "VPNに接続できません。パスワードの期限が切れたようです。",
    ),
}
CASES = [(code, text) for code, texts in sorted(SAMPLES.items()) for text in texts]


@pytest.mark.parametrize(
    ("code", "text"), CASES, ids=[f"{c}-{n % 3}" for n, (c, _) in enumerate(CASES)]
)
def test_guesses_each_language(code: str, text: str) -> None:
    assert guess_language(text) == code


def test_scripts_with_one_language() -> None:
    assert guess_language("안녕하세요, 프린터가 작동하지 않습니다.") == "ko"
    assert guess_language("Γεια σας, ο εκτυπωτής δεν λειτουργεί.") == "el"
    assert guess_language("Привіт, принтер не працює. Дякую!") == "uk"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\n",
        "12345 67890",
        "OK",
        "https://example.com/reset?user=bob bob@example.com",
        "VPN",
        "Printer",
    ],
)
def test_unsure_says_none(text: str) -> None:
    assert guess_language(text) is None


def test_a_mix_without_a_clear_winner_says_none() -> None:
    assert guess_language("Danke. Thanks.") is None


def test_links_and_addresses_are_not_words() -> None:
    # "de" and "la" in a link would otherwise vote for French, Spanish and Dutch.
    text = "Thanks, see https://example.com/de/la/de/la and mail de-la@example.de"
    assert guess_language(text) == "en"


def test_english_terms_in_a_chinese_or_russian_mail_do_not_decide() -> None:
    assert guess_language("打印机 HP LaserJet Pro M404dn 无法打印，显示 Paper Jam。") == "zh"
    assert guess_language("Outlook не отправляет письма, ошибка 0x800CCC0E на Windows 10.") == (
        "ru"
    )


def test_only_a_prefix_is_read() -> None:
    german = "Der Drucker im dritten Stock ist kaputt und ich kann nicht drucken. " * 40
    english = "The printer on the third floor is broken and I cannot print anything. " * 400
    assert len(german) > PREFIX_CHARS
    assert guess_language(german + english) == "de"


@settings(max_examples=300)
@given(st.text())
def test_returns_a_known_code_or_none(text: str) -> None:
    code = guess_language(text)
    assert code is None or (len(code) == 2 and code.isascii() and code.islower())


def test_parse_takes_the_texts_language_over_the_clients_setting() -> None:
    body = (
        "Guten Tag, der Drucker im dritten Stock druckt seit heute Morgen nur noch leere "
        "Seiten. Können Sie bitte jemanden vorbeischicken? Vielen Dank und viele Grüße"
    )
    raw = f"From: a@example.org\nContent-Language: en-US\nSubject: Drucker\n\n{body}\n"
    assert parsers.parse(raw.encode()).language == "de"


def test_parse_falls_back_to_content_language_when_the_text_says_nothing() -> None:
    raw = b"From: a@example.org\nContent-Language: fr-FR\nSubject: x\n\nok\n"
    assert parsers.parse(raw).language == "fr"
    assert parsers.parse(raw.replace(b"fr-FR", b"not a tag!")).language is None
