"""`/docs`: the OpenAPI document as one self-contained page.

FastAPI's Swagger UI loads its scripts from a CDN, which an offline laptop or a closed
network cannot reach; this page needs nothing but the service. Every route is listed
with its roles, parameters, body and answers; the full schemas are at `/openapi.json`.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment

_PAGE = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ info.title }} — API</title>
<style>
body{font-family:system-ui,"PingFang SC","Noto Sans CJK SC",sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{margin-top:2.5rem;border-bottom:1px solid #ddd}code,pre{background:#f5f5f5;padding:.1rem .3rem;border-radius:3px}
.op{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}.m{font-weight:bold;display:inline-block;width:4.5rem}
.roles{color:#555}.st{display:inline-block;margin-right:.6rem}table{border-collapse:collapse}td,th{padding:.2rem .6rem;text-align:left;vertical-align:top}
</style></head><body>
<h1>{{ info.title }} <small>{{ info.version }}</small></h1>
<div>{{ info.description }}</div>
<p>The machine-readable document: <a href="/openapi.json">/openapi.json</a> (OpenAPI {{ openapi }}).</p>
{% for tag, operations in groups %}<h2>{{ tag }}</h2>
{% for op in operations %}<div class="op" id="{{ op.id }}">
<div><span class="m">{{ op.method }}</span><code>{{ op.path }}</code> — {{ op.summary }}</div>
<div class="roles">who: {{ op.roles | join(", ") }}</div>
{% if op.description %}<p>{{ op.description }}</p>{% endif %}
{% if op.parameters %}<table><tr><th>parameter</th><th>in</th><th>required</th><th>about</th></tr>
{% for p in op.parameters %}<tr><td><code>{{ p.name }}</code></td><td>{{ p["in"] }}</td><td>{{ "yes" if p.required else "no" }}</td><td>{{ p.description or "" }}</td></tr>{% endfor %}
</table>{% endif %}
{% if op.body %}<div>body: <code>{{ op.body }}</code></div>{% endif %}
<div>answers: {% for status, about in op.responses %}<span class="st" title="{{ about }}"><b>{{ status }}</b> {{ about }}</span>{% endfor %}</div>
</div>{% endfor %}{% endfor %}
</body></html>""")


def _ref_name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref") or next((s.get("$ref") for s in schema.get("anyOf", []) if "$ref" in s), None)
    return str(ref).rsplit("/", 1)[-1] if ref else str(schema.get("type", "object"))


def render_docs(document: dict[str, Any]) -> str:
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, methods in document.get("paths", {}).items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {})
            body_text = ", ".join(f"{kind}: {_ref_name(c.get('schema', {}))}" for kind, c in body.items())
            groups.setdefault((op.get("tags") or ["other"])[0], []).append({
                "id": op.get("operationId", ""),
                "method": method.upper(),
                "path": path,
                "summary": op.get("summary", ""),
                "description": op.get("description", ""),
                "roles": op.get("x-roles", []),
                "parameters": op.get("parameters", []),
                "body": body_text,
                "responses": [(status, r.get("description", "")) for status, r in op.get("responses", {}).items()],
            })
    return _PAGE.render(info=document.get("info", {}), openapi=document.get("openapi"), groups=list(groups.items()))
