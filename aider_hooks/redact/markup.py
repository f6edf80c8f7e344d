"""Secrets in markup and in objects that keep the name and the value in separate fields.

XML (and HTML, plists): every tag's attributes are read, so a ``password="x"`` that is not
the first attribute is found (``<connection user="a" password="x"/>``); a ``key``/``name``
attribute that names a secret makes its ``value`` attribute or the element's text a secret
(``<add key="SmtpPassword" value="x"/>``, Spring's ``<property name="password" value="x"/>``,
Android's ``<string name="maps_api_key">x</string>``, ``<entry key="db.password">x</entry>``);
an element named like a secret holds one even with attributes (``<Pass encoding="base64">``);
a plist ``<key>APIKey</key>`` makes the next ``<string>`` a secret.

Name/value objects: a ``key``/``name``/``ParameterKey`` field that names a secret, then a
``value``/``ParameterValue`` field within the same object (Postman environments, Kubernetes
and ECS ``env`` lists, CloudFormation parameters, Ansible lists); Terraform's
``variable "db_password" { default = "x" }``.
"""
from __future__ import annotations

import re

from aider_hooks.redact.common import SecretMatch, is_reference, key_material
from aider_hooks.redact.names import secret_name_kind

_TAG = re.compile(r"<([A-Za-z_][\w:.-]{0,80})")
_ATTRIBUTE = re.compile(r"\s+([\w:.-]{1,80})\s*=\s*(?:\"([^\"<\n]{0,2048})\"|'([^'<\n]{0,2048})')")
_TAG_END = re.compile(r"\s*(/?)>")
_NAME_ATTRIBUTES = ("key", "name", "id", "property")
_VALUE_ATTRIBUTES = ("value", "content", "val")
_MAX_TEXT = 2048
_PLIST_STRING = re.compile(r"\s*<string>([^<\n]{1,2048})</string>")

# Run on the lower-cased text: a field that holds a name, and the field that holds its value.
_NAME_FIELD = re.compile(
    r"(?:key|name|parameterkey|variable)[\"']?[ \t]*[:=][ \t]*[\"']?([\w.$/:-]{2,128})[\"']?")
_VALUE_FIELD = re.compile(
    r"(?:value|parametervalue)[\"']?[ \t]*[:=][ \t]*"
    r"(?:([\"'])((?:\\.|(?!\1)[^\\\n]){1,2048})\1|([^\s\"',}\]#][^\n,}\]#]{0,2047}))")
_OBJECT_WINDOW = 400
_TF_VARIABLE = re.compile(r"variable[ \t]+\"([\w-]{1,128})\"[ \t]*\{")
_TF_DEFAULT = re.compile(r"default[ \t]*=[ \t]*\"((?:\\.|[^\"\\\n]){1,2048})\"")


def markup(text: str, lowered: str) -> list[SecretMatch]:
    found: list[SecretMatch] = []
    if "<" in text:
        found += _xml(text)
    if "value" in lowered:
        found += _name_value_objects(text, lowered)
    if "variable" in lowered:
        found += _terraform_defaults(text, lowered)
    return found


def _secret(name: str, value: str) -> bool:
    kind = secret_name_kind(name)
    if kind == "strong":
        return not is_reference(value)
    return kind == "key" and key_material(value)


def _xml(text: str) -> list[SecretMatch]:
    found = []
    pos = 0
    while True:
        tag = _TAG.search(text, pos)
        if tag is None:
            break
        pos = tag.end()
        attributes: dict[str, tuple[str, int, int]] = {}
        for _ in range(64):
            attribute = _ATTRIBUTE.match(text, pos)
            if attribute is None:
                break
            group = 2 if attribute.group(2) is not None else 3
            attributes[attribute.group(1).lower()] = (
                attribute.group(group), attribute.start(group), attribute.end(group))
            pos = attribute.end()
        end = _TAG_END.match(text, pos)
        if end is None:
            continue
        pos = end.end()
        element = tag.group(1)
        # Attributes named like secrets.
        for name, (value, start, stop) in attributes.items():
            if name not in _VALUE_ATTRIBUTES and _secret(name, value):
                found.append(SecretMatch("xml-credential", start, stop))
        # A key/name attribute naming a secret: its value attribute, or the element's text.
        named = next((attributes[a][0] for a in _NAME_ATTRIBUTES if a in attributes), None)
        text_value = None if end.group(1) else _element_text(text, pos)
        if named is not None:
            for value_name in _VALUE_ATTRIBUTES:
                if value_name in attributes:
                    value, start, stop = attributes[value_name]
                    if _secret(named, value):
                        found.append(SecretMatch("xml-credential", start, stop))
            if text_value is not None and _secret(named, text_value[0]):
                found.append(SecretMatch("xml-credential", text_value[1], text_value[2]))
        # An element named like a secret, with attributes (without, assignments has it).
        if attributes and text_value is not None and _secret(element, text_value[0]):
            found.append(SecretMatch("xml-credential", text_value[1], text_value[2]))
        # <key>APIKey</key><string>x</string>
        if element == "key" and text_value is not None and secret_name_kind(text_value[0]):
            plist = _PLIST_STRING.match(text, text_value[2] + len("</key>"))
            if plist is not None and _secret(text_value[0], plist.group(1)):
                found.append(SecretMatch("xml-credential", plist.start(1), plist.end(1)))
    return found


def _element_text(text: str, pos: int) -> tuple[str, int, int] | None:
    close = text.find("<", pos, pos + _MAX_TEXT)
    if close == -1 or close == pos or text.startswith("</", close) is False:
        return None
    value = text[pos:close]
    if "\n" in value or not value.strip():
        return None
    return value, pos, close


def _name_value_objects(text: str, lowered: str) -> list[SecretMatch]:
    found = []
    for name in _NAME_FIELD.finditer(lowered):
        if name.start() > 0 and (lowered[name.start() - 1].isalnum()
                                 or lowered[name.start() - 1] == "_"):
            continue  # primary_key, username
        secret_name = text[name.start(1):name.end(1)]
        if secret_name_kind(secret_name) is None:
            continue
        window_end = min(len(text), name.end() + _OBJECT_WINDOW)
        for stop in ("}", "{", "\n- ", "\n  - ", "\n    - "):
            at = lowered.find(stop, name.end(), window_end)
            if at != -1:
                window_end = at
        value = _VALUE_FIELD.search(lowered, name.end(), window_end)
        if value is None:
            continue
        group = 2 if value.group(2) is not None else 3
        start, end = value.start(group), value.end(group)
        raw = text[start:end].rstrip()
        if _secret(secret_name, raw):
            found.append(SecretMatch("name-value-credential", start, start + len(raw)))
    return found


def _terraform_defaults(text: str, lowered: str) -> list[SecretMatch]:
    found = []
    for variable in _TF_VARIABLE.finditer(lowered):
        name = variable.group(1)
        if secret_name_kind(name) is None:
            continue
        block_end = lowered.find("\n}", variable.end(), variable.end() + 2000)
        inline_end = lowered.find("}", variable.end(), variable.end() + 2000)
        end = block_end if block_end != -1 else inline_end
        if end == -1:
            end = min(len(text), variable.end() + 2000)
        default = _TF_DEFAULT.search(lowered, variable.end(), end + 1)
        if default is not None:
            value = text[default.start(1):default.end(1)]
            if _secret(name, value):
                found.append(SecretMatch("secret-assignment", default.start(1), default.end(1)))
    return found
