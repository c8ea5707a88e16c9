"""Open311 conformance, from the outside: PyPI's `georeport` client (an independent Open311
GeoReport v2 implementation) reads services, definitions and requests from a running
`linli serve`, in JSON and in XML; posts go through a plain HTTP client, as `georeport` does
not post. Usage: conformance.py BASE_URL API_KEY  (BASE_URL ends in /open311/v2)."""

import sys

import requests
from georeport import GeoReport

base, key = sys.argv[1].rstrip("/"), sys.argv[2]
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise SystemExit(f"FAIL: {what}")
    checks += 1


def as_list(x):
    return x if isinstance(x, list) else [x]


json_client = GeoReport(base, output_format="json")
xml_client = GeoReport(base, output_format="xml")

# Discovery names this endpoint and both formats.
disc = requests.get(f"{base}/discovery.json", timeout=10).json()
check(disc["endpoints"][0]["url"].rstrip("/") == base, "discovery url")
check("application/json" in disc["endpoints"][0]["formats"], "discovery formats")

# Services and a definition with attributes, in both formats.
services = json_client.get_service_list()
codes = {s["service_code"] for s in services}
check({"sewer_blocked", "sewage_overflow", "elevator", "street_light"} <= codes, f"service list: {codes}")
xml_services = as_list(xml_client.get_service_list())
check({s["service_code"] for s in xml_services} == codes, "XML service list matches JSON")
definition = json_client.get_service_definition("elevator")
check(definition["attributes"][0]["code"] == "trapped" and definition["attributes"][0]["required"], "definition")
xml_def = xml_client.get_service_definition("elevator")
attr = xml_def["attributes"]["attribute"]
check(attr["code"] == "trapped" and attr["required"] == "true", f"XML definition: {xml_def}")

# Posting: form-encoded, api_key, attributes; and the specification's errors.
def post(fmt="json", **fields):
    return requests.post(f"{base}/requests.{fmt}", data=fields, timeout=10)

r = post(api_key=key, service_code="elevator", lat="40.0912", long="113.2981",
         address_string="万城华府小区3号楼", description="电梯困人", **{"attribute[trapped]": "yes"})
check(r.status_code == 201, f"post: {r.status_code} {r.text}")
first = r.json()[0]["service_request_id"]
r = post(api_key=key, service_code="sewer_blocked", address_string="宏安小区2号楼",
         description="下水堵塞", **{"attribute[floor]": "2"})
check(r.status_code == 201, f"post 2: {r.status_code} {r.text}")
second = r.json()[0]["service_request_id"]

r = post(api_key=key, service_code="no_such_service", lat="40.09", long="113.3")
check(r.status_code == 404 and r.json()[0]["code"] == 404, f"unknown service_code: {r.status_code} {r.text}")
r = post(api_key=key, service_code="street_light", description="没有位置")
check(r.status_code == 400 and r.json()[0]["code"] == 400, f"missing location: {r.status_code} {r.text}")
r = post(api_key="wrong", service_code="street_light", lat="40.09", long="113.3")
check(r.status_code == 403, f"bad api_key: {r.status_code}")
r = post("xml", service_code="street_light", lat="40.09", long="113.3")
check(r.status_code == 403 and "<errors><error><code>403</code>" in r.text, f"XML error: {r.text}")
r = post(api_key=key, service_code="elevator", address_string="万城华府3号楼")
check(r.status_code == 400 and "trapped" in r.json()[0]["description"], f"required attribute: {r.text}")
r = post(api_key=key, service_code="street_light", lat="39.9042", long="116.4074")
check(r.status_code == 400 and r.json()[0]["description"].startswith("lat:"), f"outside the district: {r.text}")

# Reading requests back with georeport: all, by id, by filters, one; JSON and XML.
recent = json_client.get_service_requests()
ids = {x["service_request_id"] for x in recent}
check({first, second} <= ids, f"requests list: {ids}")
both = json_client.get_service_requests(service_request_id=f"{first},{second}")
check({x["service_request_id"] for x in both} == {first, second}, "by id list")
lifts = json_client.get_service_requests(service_code="elevator", status="open")
check([x["service_request_id"] for x in lifts] == [first], f"filters: {lifts}")
closed = json_client.get_service_requests(status="closed")
check(closed and all(x["status"] == "closed" for x in closed), f"closed: the demo's rated sewer, nothing open: {closed}")
check(not {x["service_request_id"] for x in closed} & {first, second}, "closed leaves the open ones out")
one = json_client.get_service_request(first)
check(one["status"] == "open" and one["service_code"] == "elevator" and float(one["lat"]) == 40.0912, f"one: {one}")
xml_one = xml_client.get_service_request(second)
check(xml_one["service_request_id"] == second and xml_one["status"] == "open", f"XML one: {xml_one}")
xml_all = as_list(xml_client.get_service_requests())
check({x["service_request_id"] for x in xml_all} >= {first, second}, "XML list")
try:
    json_client.get_service_requests(start_date="2026-01-01T00:00:00Z", end_date="2026-12-01T00:00:00Z")
    check(False, "a window over 90 days is refused")
except requests.HTTPError as e:
    check(e.response.status_code == 400, "90-day window")

# Extensions: paging, tokens, request updates.
page = requests.get(f"{base}/requests.json", params={"page_size": 1, "page": 1}, timeout=10).json()
check(len(page) == 1, "page_size")
token = post(api_key=key, service_code="street_light", lat="40.08", long="113.29").json()[0]["token"]
tok = requests.get(f"{base}/tokens/{token}.json", timeout=10).json()
check(tok[0]["service_request_id"], "token")
r = requests.post(f"{base}/servicerequestupdates.json",
                  data={"api_key": key, "service_request_id": first, "description": "已有人被困20分钟"}, timeout=10)
check(r.status_code == 201, f"update: {r.text}")
updates = requests.get(f"{base}/servicerequestupdates.json", timeout=10).json()
check(any("被困20分钟" in u["description"] for u in updates), "updates list")

print(f"open311 conformance: {checks} checks passed against {base}")
