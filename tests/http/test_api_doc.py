"""docs/openapi.json is kept true: real answers have exactly the documented fields and types."""
import json
import re

import pytest
import requests

from conftest import ROOT, STANDALONE

# What can differ by web server (headers, limits, errors, origin checks, the seed's examples):
# run behind every server, not only the first (scripts/test.sh).
pytestmark = pytest.mark.by_server

SPEC = json.loads((ROOT / "docs" / "openapi.json").read_text())
SCHEMAS = SPEC["components"]["schemas"]
TYPES = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list,
         "null": type(None)}


def check(value, schema):
    if "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
    kinds = schema.get("type")
    if kinds:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        assert any(isinstance(value, TYPES[k]) and not (k == "integer" and isinstance(value, bool))
                   for k in kinds), (value, kinds)
    if "enum" in schema:
        assert value in schema["enum"]
    if "const" in schema:
        assert value == schema["const"]
    if "pattern" in schema:
        assert re.search(schema["pattern"], value)
    if isinstance(value, dict):
        assert set(schema.get("required", [])) <= set(value), (schema.get("required"), value)
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(schema["properties"]), set(value) - set(schema["properties"])
        for k, v in value.items():
            check(v, schema.get("properties", {}).get(k) or schema["additionalProperties"])
    if isinstance(value, list) and "items" in schema:
        assert len(value) <= schema.get("maxItems", len(value))
        for v in value:
            check(v, schema["items"])


def documented(path, method, status, kind="application/json"):
    return SPEC["paths"][path][method]["responses"][str(status)]["content"][kind]["schema"]


def test_run_answers(stack, clean):
    for lang, code in (("python", "print(2+2)"), ("javascript", "process.exit(2)"),
                       ("python", 'x = "a" * 1000000000'), ("c", "int main(void) { return 3; }"),
                       ("c", "int main(void) { return x; }"), ("ruby", "puts gets")):
        status, body = stack.run(lang, code, stdin="input\n")
        check(body, documented("/run", "post", status))


def test_streamed_events(stack, clean):
    """The events of a streamed run: text events as StreamText, the result as RunResult."""
    assert "text/event-stream" in SPEC["paths"]["/run"]["post"]["responses"]["200"]["content"]
    for lang, code in (("python", "import sys\nprint(1)\nprint(2, file=sys.stderr)"),
                       ("c", "int main(void) { return x; }")):
        r = requests.post(stack.url("/run"), json={"language": lang, "code": code},
                          headers={"Accept": "text/event-stream"}, timeout=60)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        names = re.findall(r"(?m)^event: (\w+)$", r.text)
        datas = [json.loads(d) for d in re.findall(r"(?m)^data: (.*)$", r.text)]
        assert len(names) == len(datas) and names[-1] == "result"
        for name, data in zip(names, datas):
            check(data, {"$ref": "#/components/schemas/" +
                         ("RunResult" if name == "result" else "StreamText")})


def test_languages(stack):
    r = requests.get(stack.url("/languages"), timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    check(r.json(), documented("/languages", "get", 200))
    assert [lang["name"] for lang in r.json()] == ["python", "javascript", "ruby", "c"]


@pytest.mark.parametrize("body,status", [(b"{", 400), (b'{"language":"x","code":"1"}', 400)])
def test_run_errors(stack, body, status):
    r = stack.post(body)
    assert r.status_code == status
    check(r.json(), documented("/run", "post", status))


def test_other_endpoints(stack, clean):
    stack.run("python", "print(1)")
    check(stack.history(), documented("/history", "get", 200))
    check(requests.get(stack.url("/healthz"), timeout=10).json(), documented("/healthz", "get", 200))
    r = requests.get(stack.url("/readyz"), timeout=30)
    check(r.json(), documented("/readyz", "get", r.status_code))
    r = requests.get(stack.url("/run"), timeout=10)
    check(r.json(), documented("/run", "post", 405))
    if STANDALONE:  # with the drop-in, GET / is the host's page
        assert requests.get(stack.url("/"), timeout=10).text == SPEC["paths"]["/"]["get"]["responses"]["200"]["content"]["text/plain"]["schema"]["const"]


@pytest.mark.parametrize("method,path,headers,status", [
    ("post", "/run", {"Origin": "http://evil.example"}, 403),
    ("post", "/run", {"Host": "evil.example"}, 421),
    ("get", "/history", {"Host": "evil.example"}, 421),
    ("get", "/metrics", {"Host": "evil.example"}, 421),
])
def test_origin_and_host_refusals(stack, method, path, headers, status):
    r = requests.request(method, stack.url(path), headers=headers, timeout=30,
                         json={"language": "python", "code": "1"} if method == "post" else None)
    assert r.status_code == status
    check(r.json(), documented(path, method, status))
