"""The XML helpers (and the one HTTP table): EC2's Query answers are edited as text (an item set
rewritten, one element set) so that what moto said stays byte for byte where the proxy changes
nothing; the recorder reads them with ElementTree. Also the query helpers the rules share."""

import re
import xml.etree.ElementTree as ElementTree
from xml.sax.saxutils import escape

EC2_XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"
ERROR_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
    "<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
)
ITEM_TAG = re.compile(r"<item>|</item>|<item/>")
# Headers of one connection, not passed on between the client, the proxy and moto.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade"}


def members(pairs, name):
    """The values of name.1, name.2, ... in a query, in order."""
    found = sorted((int(m.group(1)), v) for k, v in pairs if (m := re.fullmatch(rf"{name}\.(\d+)", k)))
    return [v for _, v in found]



def top_items(text, start=0, end=None):
    """The spans of the outermost <item> elements in text[start:end]."""
    spans, depth, opened = [], 0, 0
    for m in ITEM_TAG.finditer(text, start, len(text) if end is None else end):
        if m.group() == "<item/>":
            if depth == 0:
                spans.append((m.start(), m.end()))
        elif m.group() == "<item>":
            if depth == 0:
                opened = m.start()
            depth += 1
        elif depth > 0:
            depth -= 1
            if depth == 0:
                spans.append((opened, m.end()))
    return spans


def rewrite_set(text, tag, change):
    """Passes each outermost item of every <tag> set (such sets never nest) through change, which
    gives the new item, or None to leave it out (or out when it returns nothing)."""
    out, pos, opening, closing = [], 0, f"<{tag}>", f"</{tag}>"
    while (start := text.find(opening, pos)) >= 0:
        start += len(opening)
        end = text.find(closing, start)
        if end < 0:
            break
        out.append(text[pos:start])
        cursor = start
        for a, b in top_items(text, start, end):
            out.append(text[cursor:a])
            new = change(text[a:b])
            if new is not None:
                out.append(new)
            cursor = b
        out.append(text[cursor:end])
        pos = end
    out.append(text[pos:])
    return "".join(out)


def own(item, name):
    """The text of an item's own <name> element, not one inside a nested item ("" if none)."""
    inner = item[len("<item>"):-len("</item>")] if item.startswith("<item>") else item
    flat, cursor = [], 0
    for a, b in top_items(inner):
        flat.append(inner[cursor:a])
        cursor = b
    flat.append(inner[cursor:])
    found = re.search(rf"<{name}>([^<]*)</{name}>", "".join(flat))
    return found.group(1) if found else ""


def set_own(item, name, value):
    """The item with its own <name> element (not one inside a nested item) set to value."""
    body = item[len("<item>"):-len("</item>")] if item.startswith("<item>") else item
    cursor = 0
    for a, b in [*top_items(body), (len(body), len(body))]:
        found = re.search(rf"<{name}>[^<]*</{name}>", body[cursor:a])
        if found:
            at = cursor + found.start()
            body = f"{body[:at]}<{name}>{escape(value)}</{name}>{body[cursor + found.end():]}"
            break
        cursor = b
    return f"<item>{body}</item>" if item.startswith("<item>") else body


# ElementTree, for the recorder's facts.

def xml_root(payload):
    """moto's XML answer as an ElementTree element, namespaces left out of the tags."""
    root = ElementTree.fromstring(payload)
    for element in root.iter():
        element.tag = element.tag.rsplit("}", 1)[-1]
    return root


def text_of(element, path):
    found = element.find(path)
    return found.text if found is not None and found.text is not None else None


def ec2_tags(element):
    return {text_of(t, "key"): text_of(t, "value") or "" for t in element.findall("tagSet/item")}

