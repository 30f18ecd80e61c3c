"""Segment functions and the creation of their instances, for server.py.

Serves, in the shapes of tests/segment/openapi.yaml:

  GET    /functions                               listFunctions (paged, by resourceType)
  POST   /functions                               createFunction
  GET    /functions/{functionId}                  getFunction
  PATCH  /functions/{functionId}                  updateFunction
  DELETE /functions/{functionId}                  deleteFunction
  POST   /functions/{functionId}/deploy           createFunctionDeployment
  POST   /destinations                            createDestination
  POST   /sources                                 createSource
  DELETE /destinations/{id}, /sources/{id}        deleteDestination, deleteSource
  GET    /sources/{sourceId}/connected-destinations  listConnectedDestinationsFromSource

As Segment's README (shared/segment/README.md) says Segment behaves: ids
`dfn_<catalogId>` / `sfnc_<catalogId>`, the workspace's name appended to a
destination function's displayName, instances of a function masking the
values of its sensitive definitions (as server.py masks every sensitive
value), no
uniqueness of names. Where Segment does not document its behaviour, a
switch per reading (`/__control/functions`, PUT):

  settingsPatch: "replace" (default) | "merge"  a PATCH's settings list
  deploy:        "explicit" (default) | "onUpdate"  what makes instances
                 run new code: only a deploy, or a PATCH of the code too
"""

import copy
import time

FUNCTION_READINGS = {
    "settingsPatch": ["replace", "merge"],
    "deploy": ["explicit", "onUpdate"],
}
RESOURCE_TYPES = {"DESTINATION": "dfn_", "SOURCE": "sfnc_"}
SETTING_FIELDS = ("name", "label", "description", "type", "required", "sensitive")


def reset(st):
    st.functions = {}
    st.function_readings = {k: v[0] for k, v in FUNCTION_READINGS.items()}
    st.workspace_name = "Acme"


def _definitions(api_error, value):
    if not isinstance(value, list):
        raise api_error(422, "ValidationFailure", '"settings" must be a list', field="settings")
    out = []
    for item in value:
        if not isinstance(item, dict) or any(k not in item for k in SETTING_FIELDS):
            raise api_error(422, "ValidationFailure", "a setting needs all six fields", field="settings")
        out.append({k: copy.deepcopy(item[k]) for k in SETTING_FIELDS})
    return out


def _view(fn, listed=False):
    view = {
        "id": fn["id"],
        "resourceType": fn["resourceType"],
        "createdAt": fn["createdAt"],
        "createdBy": "fnctl-tests",
        "displayName": fn["displayName"],
        "description": fn["description"],
        "logoUrl": "",
        "catalogId": fn["catalogId"],
    }
    if not listed:
        view.update({
            "code": fn["code"],
            "deployedAt": fn["deployedAt"],
            "settings": copy.deepcopy(fn["settings"]),
            "previewWebhookUrl": "",
            "batchMaxCount": 0,
            "isLatestVersion": fn["deployedVersion"] == fn["version"],
        })
    return view


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def function_of(st, catalog_id):
    """The function with this catalog id, or None."""
    return next((fn for fn in st.functions.values() if fn["catalogId"] == catalog_id), None)


def handle(handler, st, path, query, raw_body, api_error, new_id, page):
    """The answer to a function or instance-creation request, or None when
    the path is not one of them."""
    method = handler.command
    parts = path.strip("/").split("/")
    body = None
    if method in ("POST", "PATCH") and raw_body:
        import json
        try:
            body = json.loads(raw_body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise api_error(422, "ValidationFailure", "Request body is not valid JSON")
    if parts == ["functions"] and method == "GET":
        wanted = (query.get("resourceType") or [None])[0]
        items = [_view(f, listed=True) for f in st.functions.values()
                 if wanted is None or f["resourceType"] == wanted]
        data = page(items, query)
        return {"functions": data["items"], "pagination": data["pagination"]}
    if parts == ["functions"] and method == "POST":
        return {"function": _view(_create_function(st, body, api_error, new_id))}
    if len(parts) >= 2 and parts[0] == "functions":
        fn = st.functions.get(parts[1])
        if fn is None:
            raise api_error(404, "NotFound", "Resource not found")
        if len(parts) == 3 and parts[2] == "deploy" and method == "POST":
            fn["deployedVersion"], fn["deployedAt"] = fn["version"], _now()
            return {"functionDeployment": {"status": "SUCCESS"}}
        if len(parts) == 2 and method == "GET":
            return {"function": _view(fn)}
        if len(parts) == 2 and method == "PATCH":
            _update_function(st, fn, body, api_error)
            return {"function": _view(fn)}
        if len(parts) == 2 and method == "DELETE":
            del st.functions[fn["id"]]
            return {"status": "SUCCESS"}
        raise api_error(404, "NotFound", "Resource not found")
    if parts in (["destinations"], ["sources"]) and method == "POST":
        return _create_instance(handler, st, parts[0][:-1], body, api_error, new_id)
    if len(parts) == 2 and parts[0] in ("destinations", "sources") and method == "DELETE":
        kind = parts[0][:-1]
        if st.instances[kind].pop(parts[1], None) is None:
            raise api_error(404, "NotFound", "Resource not found")
        return {"status": "SUCCESS"}
    if len(parts) == 3 and parts[0] == "sources" and parts[2] == "connected-destinations" and method == "GET":
        if parts[1] not in st.instances["source"] and not any(
            d["sourceId"] == parts[1] for d in st.instances["destination"].values()
        ):
            raise api_error(404, "NotFound", "Resource not found")
        items = [st.public_view(d) for d in st.instances["destination"].values() if d["sourceId"] == parts[1]]
        data = page(items, query)
        return {"destinations": data["items"], "pagination": data["pagination"]}
    return None


def _create_function(st, body, api_error, new_id):
    if not isinstance(body, dict):
        raise api_error(422, "ValidationFailure", "Request body must be an object")
    kind = body.get("resourceType")
    if kind not in RESOURCE_TYPES:
        raise api_error(422, "ValidationFailure", "resourceType must be DESTINATION or SOURCE", field="resourceType")
    for field in ("code", "displayName"):
        if not isinstance(body.get(field), str):
            raise api_error(422, "ValidationFailure", f'"{field}" is required', field=field)
    catalog_id = new_id()
    display = body["displayName"]
    if kind == "DESTINATION":
        display = f"{display} ({st.workspace_name})"
    fn = {
        "id": RESOURCE_TYPES[kind] + catalog_id,
        "catalogId": catalog_id,
        "resourceType": kind,
        "createdAt": _now(),
        "displayName": display,
        "description": body.get("description", ""),
        "code": body["code"],
        "settings": _definitions(api_error, body.get("settings", [])),
        "version": 1,
        "deployedVersion": None,
        "deployedAt": None,
    }
    st.functions[fn["id"]] = fn
    return fn


def _update_function(st, fn, body, api_error):
    if not isinstance(body, dict) or not body:
        raise api_error(400, "BadRequest", "Nothing to update")
    if "code" in body:
        fn["code"] = body["code"]
        fn["version"] += 1
        if st.function_readings["deploy"] == "onUpdate" and fn["deployedVersion"] is not None:
            fn["deployedVersion"], fn["deployedAt"] = fn["version"], _now()
    if "displayName" in body:
        suffix = f" ({st.workspace_name})" if fn["resourceType"] == "DESTINATION" else ""
        fn["displayName"] = body["displayName"] + suffix
    if "description" in body:
        fn["description"] = body["description"]
    if "settings" in body:
        new = _definitions(api_error, body["settings"])
        if st.function_readings["settingsPatch"] == "merge":
            names = {d["name"] for d in new}
            new = [d for d in fn["settings"] if d["name"] not in names] + new
        fn["settings"] = new


def _create_instance(handler, st, kind, body, api_error, new_id):
    if not isinstance(body, dict):
        raise api_error(422, "ValidationFailure", "Request body must be an object")
    metadata_id = body.get("metadataId")
    fn = function_of(st, metadata_id)
    if fn is None:
        raise api_error(404, "NotFound", f"no function with catalog id {metadata_id}")
    settings = body.get("settings") or {}
    control = {
        "kind": kind,
        "id": new_id(),
        "settings": settings,
        "sensitive": [d["name"] for d in fn["settings"] if d["sensitive"]],
        "catalogId": metadata_id,
        "functionId": fn["id"],
        "functionName": fn["displayName"],
        "enabled": body.get("enabled", True),
    }
    if kind == "destination":
        if not isinstance(body.get("sourceId"), str):
            raise api_error(422, "ValidationFailure", '"sourceId" is required', field="sourceId")
        control.update(name=body.get("name") or "", sourceId=body["sourceId"])
    else:
        if not isinstance(body.get("slug"), str):
            raise api_error(422, "ValidationFailure", '"slug" is required', field="slug")
        control.update(slug=body["slug"], name=body["slug"])
    inst = st.create(control)
    return {kind: st.public_view(inst)}
