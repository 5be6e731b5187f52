# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a real Kubernetes API server does beyond the OpenAPI schema, for the
fake of fake_apiserver.py: validation (422 Invalid), immutable fields on
update, the defaults stored with every object and the fields the server
allocates (a Service's clusterIP...), for the kinds the roles apply.

Reference: Kubernetes v1.33 (kubernetes/kubernetes release-1.33,
k8s.io/apimachinery v0.33). Every rule names its source and keeps the real
error text; abbreviations used below:

* ``core-val`` pkg/apis/core/validation/validation.go
* ``apps-val`` pkg/apis/apps/validation/validation.go
* ``batch-val`` pkg/apis/batch/validation/validation.go
* ``core-def`` pkg/apis/core/v1/defaults.go, ``apps-def`` pkg/apis/apps/v1/defaults.go,
  ``batch-def`` pkg/apis/batch/v1/defaults.go
* ``am/`` staging/src/k8s.io/apimachinery/ (the k8s.io/apimachinery module)

Known simplifications (the real server is stricter or differs in form):
quantities are parsed and compared but not rewritten to their canonical form
("1024Mi" stays "1024Mi", the real server stores "1Gi"); a struct that is
neither a label map, a list of strings, a label selector nor an IntOrString
is shown as ``Type{...}`` in messages (Go prints every field); the pod spec
rules cover names, ports, volumes, mounts, resources and probes' ports, not
security contexts, affinity or env; a PersistentVolumeClaim is bound at once
(as GKE's provisioner does once a pod uses it) so that resizing is allowed.
"""

import copy
import functools
import json
import re
import zoneinfo
from fractions import Fraction

# ---------------------------------------------------------------------------
# Field errors and the Status of a refusal
# ---------------------------------------------------------------------------

# am/pkg/util/validation/field/errors.go: ErrorType and its String().
REQUIRED, INVALID, NOT_SUPPORTED = "FieldValueRequired", "FieldValueInvalid", "FieldValueNotSupported"
FORBIDDEN, DUPLICATE, NOT_FOUND, TOO_LONG = "FieldValueForbidden", "FieldValueDuplicate", "FieldValueNotFound", "FieldValueTooLong"
_TYPE_TEXT = {REQUIRED: "Required value", INVALID: "Invalid value", NOT_SUPPORTED: "Unsupported value",
              FORBIDDEN: "Forbidden", DUPLICATE: "Duplicate value", NOT_FOUND: "Not found", TOO_LONG: "Too long"}


class GoValue:
    """A bad value that Go prints as a composite: ``%#v`` up to v1.33, JSON from v1.34."""

    def __init__(self, go_syntax, as_json):
        self.go_syntax = go_syntax
        self.as_json = as_json


def go_quote(text):
    """Go's %q of a string."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[char])
        elif ord(char) < 0x20 or ord(char) == 0x7f:
            out.append("\\x%02x" % ord(char))
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def go_map(labels):
    """A map[string]string (labels)."""
    if labels is None:
        return GoValue("map[string]string(nil)", None)
    items = ", ".join("%s:%s" % (go_quote(k), go_quote(str(v))) for k, v in sorted(labels.items()))
    return GoValue("map[string]string{%s}" % items, labels)


def go_strings(values):
    """A []string."""
    if values is None:
        return GoValue("[]string(nil)", None)
    return GoValue("[]string{%s}" % ", ".join(go_quote(v) for v in values), values)


def go_selector(selector):
    """A *metav1.LabelSelector (printed dereferenced, as ErrorBody does)."""
    if selector is None:
        return None
    exprs = selector.get("matchExpressions")
    if exprs is None:
        go_exprs = "[]v1.LabelSelectorRequirement(nil)"
    else:
        go_exprs = "[]v1.LabelSelectorRequirement{%s}" % ", ".join(
            "v1.LabelSelectorRequirement{Key:%s, Operator:%s, Values:%s}"
            % (go_quote(e.get("key", "")), go_quote(e.get("operator", "")), go_strings(e.get("values")).go_syntax) for e in exprs)
    syntax = "v1.LabelSelector{MatchLabels:%s, MatchExpressions:%s}" % (go_map(selector.get("matchLabels")).go_syntax, go_exprs)
    return GoValue(syntax, {k: v for k, v in selector.items() if v})


def go_int_or_string(value):
    """An intstr.IntOrString."""
    if isinstance(value, int):
        return GoValue("intstr.IntOrString{Type:0, IntVal:%d, StrVal:\"\"}" % value, value)
    return GoValue("intstr.IntOrString{Type:1, IntVal:0, StrVal:%s}" % go_quote(value), value)


def go_struct(type_name, value):
    """Any other struct (see the module's simplifications)."""
    return GoValue("%s{...}" % type_name, value)


OMIT = object()


class FieldError:
    """A field.Error: type, field path, bad value, detail."""

    def __init__(self, kind, field, value=OMIT, detail=""):
        self.type, self.field, self.value, self.detail = kind, field, value, detail

    def body(self, minor):
        """ErrorBody() (am/pkg/util/validation/field/errors.go)."""
        text = _TYPE_TEXT[self.type]
        if self.type not in (REQUIRED, FORBIDDEN, TOO_LONG) and self.value is not OMIT:
            text += ": " + render(self.value, minor)
        if self.detail:
            text += ": " + self.detail
        return text

    def message(self, minor):
        """Error(): "<field>: <body>"."""
        return "%s: %s" % (self.field, self.body(minor))

    def __repr__(self):
        return "FieldError(%r)" % self.message(33)


def render(value, minor):
    """How ErrorBody prints a bad value: simple types plainly, strings quoted,
    composites with %#v (v0.33) or as JSON (v0.34, apimachinery's change)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    if minor >= 34 and value.as_json is not None:
        return json.dumps(value.as_json, sort_keys=True, separators=(",", ":"))
    return value.go_syntax


def required(field, detail=""):
    return FieldError(REQUIRED, field, OMIT, detail)


def invalid(field, value, detail):
    return FieldError(INVALID, field, value, detail)


def forbidden(field, detail):
    return FieldError(FORBIDDEN, field, OMIT, detail)


def not_supported(field, value, valid):
    # field.NotSupported: detail "supported values: " + each value strconv.Quote'd; an unset enum is "".
    return FieldError(NOT_SUPPORTED, field, "" if value is None else value, "supported values: " + ", ".join(go_quote(v) for v in valid))


def status_invalid(group, kind, name, errors, minor):
    """am/pkg/api/errors/errors.go NewInvalid: 422, reason Invalid, one cause
    per error; message `<Kind>[.<group>] "<name>" is invalid: <aggregate>`, the
    aggregate (am/pkg/util/errors) being the one message or "[m1, m2]",
    duplicates dropped."""
    messages = []
    for error in errors:
        if error.message(minor) not in messages:
            messages.append(error.message(minor))
    aggregate = messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"
    qualified = kind + "." + group if group else kind
    details = {"name": name, "kind": kind,
               "causes": [{"reason": e.type, "message": e.body(minor), "field": e.field} for e in errors]}
    if group:
        details["group"] = group
    return 422, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                 "message": "%s %s is invalid: %s" % (qualified, go_quote(name), aggregate),
                 "reason": "Invalid", "details": details, "code": 422}


# ---------------------------------------------------------------------------
# Names, labels, ports (am/pkg/util/validation/validation.go)
# ---------------------------------------------------------------------------

DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = DNS1123_LABEL + "(\\." + DNS1123_LABEL + ")*"
DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
CONFIG_MAP_KEY = "[-._a-zA-Z0-9]+"


def _matches(pattern, value):
    return re.fullmatch(pattern, value) is not None


def regex_error(msg, fmt, *examples):
    """RegexError."""
    if not examples:
        return msg + " (regex used for validation is '" + fmt + "')"
    # As in Go: "'a', " then " or " before each further example (hence two spaces).
    return msg + " (e.g. " + " or ".join("'%s', " % e for e in examples) + "regex used for validation is '" + fmt + "')"


def max_len_error(length):
    return "must be no more than %d characters" % length


def is_dns1123_label(value):
    """IsDNS1123Label."""
    errs = [max_len_error(63)] if len(value) > 63 else []
    if not _matches(DNS1123_LABEL, value):
        if _matches(DNS1123_SUBDOMAIN, value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                                    "and must start and end with an alphanumeric character", DNS1123_LABEL, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value):
    """IsDNS1123Subdomain."""
    errs = [max_len_error(253)] if len(value) > 253 else []
    if not _matches(DNS1123_SUBDOMAIN, value):
        errs.append(regex_error("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                                "and must start and end with an alphanumeric character", DNS1123_SUBDOMAIN, "example.com"))
    return errs


def is_dns1035_label(value):
    """IsDNS1035Label."""
    errs = [max_len_error(63)] if len(value) > 63 else []
    if not _matches(DNS1035_LABEL, value):
        errs.append(regex_error("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                                "alphabetic character, and end with an alphanumeric character", DNS1035_LABEL, "my-name", "abc-123"))
    return errs


def is_path_segment_name(value):
    """am/pkg/api/validation/path/name.go IsValidPathSegmentName (RBAC names)."""
    if value in (".", ".."):
        return ["may not be '%s'" % value]
    return ["may not contain '%s'" % c for c in ("/", "%") if c in value]


def is_qualified_name(value):
    """IsQualifiedName (label keys, annotation keys, provisioners)."""
    qualified_msg = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
    parts = value.split("/")
    errs = []
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs += ["prefix part " + m for m in is_dns1123_subdomain(prefix)]
    else:
        return ["a qualified name " + regex_error(qualified_msg, QUALIFIED_NAME, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + max_len_error(63))
    if not _matches(QUALIFIED_NAME, name):
        errs.append("name part " + regex_error(qualified_msg, QUALIFIED_NAME, "MyName", "my.name", "123-abc"))
    return errs


def is_label_value(value):
    """IsValidLabelValue."""
    errs = [max_len_error(63)] if len(value) > 63 else []
    if not _matches("(" + QUALIFIED_NAME + ")?", value):
        errs.append(regex_error("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                                "and must start and end with an alphanumeric character", "(" + QUALIFIED_NAME + ")?",
                                "MyValue", "my_value", "12345"))
    return errs


def is_port_num(port):
    """IsValidPortNum: 1-65535."""
    return [] if isinstance(port, int) and 1 <= port <= 65535 else ["must be between 1 and 65535, inclusive"]


def is_port_name(name):
    """IsValidPortName: an IANA_SVC_NAME, at most 15 characters."""
    errs = [max_len_error(15)] if len(name) > 15 else []
    if not _matches("[-a-z0-9]+", name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_config_map_key(key):
    """IsConfigMapKey (ConfigMap and Secret keys)."""
    errs = [max_len_error(253)] if len(key) > 253 else []
    if not _matches(CONFIG_MAP_KEY, key):
        errs.append(regex_error("a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                                CONFIG_MAP_KEY, "key.name", "KEY_NAME", "key-name"))
    if key in (".", ".."):
        errs.append("must not be '%s'" % key)
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def validate_labels(labels, path):
    """am/pkg/apis/meta/v1/validation ValidateLabels: keys are qualified names, values label values."""
    errs = []
    for key, value in (labels or {}).items():
        errs += [invalid(path, key, m) for m in is_qualified_name(key)]
        errs += [invalid(path, value, m) for m in is_label_value(str(value))]
    return errs


def validate_annotations(annotations, path):
    """am/pkg/api/validation/objectmeta.go ValidateAnnotations: qualified keys, 256 KiB in all."""
    errs = []
    for key in annotations or {}:
        errs += [invalid(path, key, m) for m in is_qualified_name(key.lower())]
    if sum(len(k) + len(str(v)) for k, v in (annotations or {}).items()) > 256 * 1024:
        errs.append(FieldError(TOO_LONG, path, OMIT, "may not be more than 262144 bytes"))  # field.TooLong, v0.33 text
    return errs


def validate_selector(selector, path):
    """am/pkg/apis/meta/v1/validation ValidateLabelSelector."""
    if selector is None:
        return []
    errs = validate_labels(selector.get("matchLabels"), path + ".matchLabels")
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        epath = "%s.matchExpressions[%d]" % (path, i)
        operator, values = expr.get("operator"), expr.get("values") or []
        if operator in ("In", "NotIn") and not values:
            errs.append(required(epath + ".values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif operator in ("Exists", "DoesNotExist") and values:
            errs.append(forbidden(epath + ".values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        elif operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            errs.append(invalid(epath + ".operator", operator, "not a valid selector operator"))
        errs += [invalid(epath + ".key", expr.get("key", ""), m) for m in is_qualified_name(expr.get("key", ""))]
    return errs


def selector_matches(selector, labels):
    """metav1.LabelSelectorAsSelector(selector).Matches(labels)."""
    labels = labels or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, operator, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if (operator == "In" and labels.get(key) not in values) or (operator == "NotIn" and key in labels and labels[key] in values) \
                or (operator == "Exists" and key not in labels) or (operator == "DoesNotExist" and key in labels):
            return False
    return True


def nonnegative(value, path):
    """am/pkg/api/validation/generic.go ValidateNonnegativeField."""
    return [invalid(path, value, "must be greater than or equal to 0")] if isinstance(value, int) and value < 0 else []


def immutable(new, old, path, value):
    """am/pkg/api/validation/objectmeta.go ValidateImmutableField: `field is immutable`."""
    return [invalid(path, value, "field is immutable")] if new != old else []


def int_or_percent(value, path):
    """apps-val ValidatePositiveIntOrPercent and IsNotMoreThan100Percent."""
    if isinstance(value, str):
        if not _matches("[0-9]+%", value):
            return [invalid(path, go_int_or_string(value),
                            regex_error("a valid percent string must be a numeric string followed by an ending '%'", "[0-9]+%", "1%", "93%"))]
        if int(value[:-1]) > 100:
            return [invalid(path, go_int_or_string(value), "must not be greater than 100%")]
        return []
    return nonnegative(value, path)


# ---------------------------------------------------------------------------
# Quantities (am/pkg/api/resource/quantity.go)
# ---------------------------------------------------------------------------

QUANTITY_FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
QUANTITY_SUFFIX_ERROR = "unable to parse quantity's suffix"
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


class QuantityError(ValueError):
    """ParseQuantity's ErrFormatWrong or ErrSuffix."""


def parse_quantity(raw):
    """ParseQuantity: the exact value of a quantity (parseQuantityString, then the suffix)."""
    text = str(raw).strip() if isinstance(raw, (int, float)) else raw
    if not isinstance(text, str) or not text:
        raise QuantityError(QUANTITY_FORMAT_ERROR)
    match = re.fullmatch(r"([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[-+]?[0-9]*)", text)
    if not match:
        raise QuantityError(QUANTITY_FORMAT_ERROR)
    sign, whole, frac, suffix = match.groups()
    number = Fraction(int(whole or "0")) + (Fraction(int(frac), 10 ** len(frac)) if frac else 0)
    if suffix in _BINARY:
        number *= 2 ** _BINARY[suffix]
    elif suffix in _DECIMAL:
        number *= Fraction(10) ** _DECIMAL[suffix]
    elif re.fullmatch(r"[eE][-+]?[0-9]+", suffix):
        number *= Fraction(10) ** int(suffix[1:])
    else:
        raise QuantityError(QUANTITY_SUFFIX_ERROR)
    return -number if sign == "-" else number


def _quantity_fields(obj, path=""):
    """(path, value) of every Quantity the roles' kinds hold: resources'
    requests/limits, emptyDir.sizeLimit, overhead."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            sub = "%s.%s" % (path, key) if path else key
            if key in ("requests", "limits", "overhead", "capacity") and isinstance(value, dict):
                for name, quantity in value.items():
                    yield "%s[%s]" % (sub, name), quantity
            elif key == "sizeLimit":
                yield sub, value
            else:
                yield from _quantity_fields(value, sub)
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _quantity_fields(value, "%s[%d]" % (path, i))


def decode_error(obj):
    """The error of converting the applied object to its Go type, or None.

    A quantity that does not parse ("1Gb", "abc") fails before validation:
    server-side apply merges untyped objects, then converts the result
    (am/pkg/util/managedfields/internal/structuredmerge.go Apply:
    `failed to convert new object (%v) to proper version: %v`, wrapping
    am/pkg/runtime/scheme.go unstructuredToTyped's `unable to convert
    unstructured object to %v: %v`). That error is no API status, so
    apiserver/pkg/endpoints/handlers/responsewriters/status.go
    ErrorToAPIStatus answers 500 with no reason (a POST/PUT would answer 400
    "... cannot be handled as a ..."; the inner wording of the
    structured-merge-diff converter may add to the quantity error)."""
    for _path, raw in _quantity_fields(obj):
        try:
            parse_quantity(raw)
        except QuantityError as error:
            group_version = obj["apiVersion"] if "/" in obj["apiVersion"] else "/" + obj["apiVersion"]
            gvk = "%s, Kind=%s" % (group_version, obj["kind"])
            meta = obj.get("metadata", {})
            return ("failed to convert new object (%s/%s; %s) to proper version: unable to convert unstructured object to %s: %s"
                    % (meta.get("namespace", ""), meta.get("name", ""), gvk, gvk, error))
    return None


# ---------------------------------------------------------------------------
# Object metadata
# ---------------------------------------------------------------------------

def _name_rule(kind):
    """The ValidateNameFunc of each kind."""
    if kind == "Namespace":
        return is_dns1123_label      # core-val ValidateNamespaceName (am NameIsDNSLabel)
    if kind == "Service":
        return is_dns1035_label      # core-val ValidateServiceName = NameIsDNS1035Label
    if kind == "StatefulSet":
        return is_dns1123_label      # apps-val ValidateStatefulSetName = NameIsDNSLabel (pods are named <sts>-<n>)
    if kind in ("ClusterRole", "ClusterRoleBinding"):
        return is_path_segment_name  # pkg/apis/rbac/validation/validation.go ValidateRBACName
    return is_dns1123_subdomain      # NameIsDNSSubdomain: every other kind here


def validate_metadata(obj):
    """am/pkg/api/validation/objectmeta.go ValidateObjectMetaAccessor."""
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    if not name:
        errs = [required("metadata.name", "name or generateName is required")]
    else:
        errs = [invalid("metadata.name", name, m) for m in _name_rule(obj["kind"])(name)]
    if obj["kind"] == "CronJob" and len(name) > 52:
        # batch-val ValidateCronJobCreate: the controller appends an 11-character suffix to the Jobs' names.
        errs.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    errs += validate_labels(meta.get("labels"), "metadata.labels")
    errs += validate_annotations(meta.get("annotations"), "metadata.annotations")
    return errs


# ---------------------------------------------------------------------------
# Pod templates (core-val ValidatePodTemplateSpec, ValidatePodSpec)
# ---------------------------------------------------------------------------

_VOLUME_SOURCES = ("configMap", "secret", "emptyDir", "persistentVolumeClaim", "hostPath", "projected", "downwardAPI", "csi",
                   "ephemeral", "nfs", "image", "gcePersistentDisk", "awsElasticBlockStore", "iscsi", "fc", "rbd", "cephfs",
                   "cinder", "flexVolume", "flocker", "azureFile", "azureDisk", "vsphereVolume", "quobyte", "photonPersistentDisk",
                   "portworxVolume", "scaleIO", "storageos", "glusterfs", "gitRepo")
_FILE_MODE_ERROR = "must be a number between 0 and 0777 (octal), both inclusive"  # core-val fileModeErrorMsg


def validate_volumes(volumes, path):
    """core-val ValidateVolumes: DNS-1123 label names, unique, one source."""
    errs, names = [], set()
    for i, volume in enumerate(volumes or []):
        vpath = "%s[%d]" % (path, i)
        name = volume.get("name") or ""
        if not name:
            errs.append(required(vpath + ".name"))
        else:
            errs += [invalid(vpath + ".name", name, m) for m in is_dns1123_label(name)]
            if name in names:
                errs.append(FieldError(DUPLICATE, vpath + ".name", name))
            names.add(name)
        sources = [s for s in _VOLUME_SOURCES if s in volume]
        for extra in sources[1:]:
            errs.append(forbidden("%s.%s" % (vpath, extra), "may not specify more than 1 volume type"))
        for source in ("configMap", "secret", "projected", "downwardAPI"):
            mode = (volume.get(source) or {}).get("defaultMode")
            if isinstance(mode, int) and not 0 <= mode <= 0o777:
                errs.append(invalid("%s.%s.defaultMode" % (vpath, source), mode, _FILE_MODE_ERROR))
        if "persistentVolumeClaim" in volume and not (volume["persistentVolumeClaim"] or {}).get("claimName"):
            errs.append(required(vpath + ".persistentVolumeClaim.claimName"))
    return errs, names


def validate_port_num_or_name(port, path):
    """core-val ValidatePortNumOrName."""
    if isinstance(port, int):
        return [invalid(path, port, m) for m in is_port_num(port)]
    return [invalid(path, port, m) for m in is_port_name(str(port))]


def validate_resources(resources, path):
    """core-val ValidateResourceRequirements: known names, non-negative, request <= limit."""
    errs = []
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    for section, values in (("limits", limits), ("requests", requests)):
        for name, raw in values.items():
            qpath = "%s.%s[%s]" % (path, section, name)
            if "/" not in name and name not in ("cpu", "memory", "ephemeral-storage") and not name.startswith("hugepages-"):
                errs.append(invalid(qpath, name, "must be a standard resource for containers"))  # validateContainerResourceName
            if parse_quantity(raw) < 0:
                errs.append(invalid(qpath, str(raw), "must be greater than or equal to 0"))  # ValidateNonnegativeQuantity
    for name, raw in requests.items():
        if name in limits and parse_quantity(raw) > parse_quantity(limits[name]):
            # Field is the requests map itself, as in the source.
            errs.append(invalid(path + ".requests", str(raw), "must be less than or equal to %s limit of %s" % (name, limits[name])))
    return errs


def validate_container(container, path, volumes):
    """core-val validateContainerCommon (name, image, ports, mounts, pull policy, resources)."""
    errs = []
    name = container.get("name") or ""
    if not name:
        errs.append(required(path + ".name"))
    else:
        errs += [invalid(path + ".name", name, m) for m in is_dns1123_label(name)]
    if not container.get("image"):
        errs.append(required(path + ".image"))
    port_names = set()
    for i, port in enumerate(container.get("ports") or []):  # validateContainerPorts
        ppath = "%s.ports[%d]" % (path, i)
        if port.get("name"):
            msgs = is_port_name(port["name"])
            errs += [invalid(ppath + ".name", port["name"], m) for m in msgs]
            if not msgs and port["name"] in port_names:
                errs.append(FieldError(DUPLICATE, ppath + ".name", port["name"]))
            port_names.add(port["name"])
        if not port.get("containerPort"):
            errs.append(required(ppath + ".containerPort"))
        else:
            errs += [invalid(ppath + ".containerPort", port["containerPort"], m) for m in is_port_num(port["containerPort"])]
        if port.get("hostPort"):
            errs += [invalid(ppath + ".hostPort", port["hostPort"], m) for m in is_port_num(port["hostPort"])]
        if port.get("protocol") not in ("SCTP", "TCP", "UDP"):
            errs.append(not_supported(ppath + ".protocol", port.get("protocol"), ["SCTP", "TCP", "UDP"]))
    mount_paths = set()
    for i, mount in enumerate(container.get("volumeMounts") or []):  # ValidateVolumeMounts
        mpath = "%s.volumeMounts[%d]" % (path, i)
        if not mount.get("name"):
            errs.append(required(mpath + ".name"))
        elif mount["name"] not in volumes:
            errs.append(FieldError(NOT_FOUND, mpath + ".name", mount["name"]))
        if not mount.get("mountPath"):
            errs.append(required(mpath + ".mountPath"))
        elif mount["mountPath"] in mount_paths:
            errs.append(invalid(mpath + ".mountPath", mount["mountPath"], "must be unique"))
        mount_paths.add(mount.get("mountPath"))
    if container.get("imagePullPolicy") not in ("Always", "IfNotPresent", "Never"):  # validatePullPolicy
        errs.append(not_supported(path + ".imagePullPolicy", container.get("imagePullPolicy"), ["Always", "IfNotPresent", "Never"]))
    errs += validate_resources(container.get("resources") or {}, path + ".resources")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):  # validateProbe -> handler ports
        for handler in ("httpGet", "tcpSocket"):
            action = (container.get(probe) or {}).get(handler)
            if action is not None:
                errs += validate_port_num_or_name(action.get("port"), "%s.%s.%s.port" % (path, probe, handler))
    return errs


def validate_pod_spec(spec, path):
    """core-val ValidatePodSpec (the parts listed in the module's docstring)."""
    errs, volumes = validate_volumes(spec.get("volumes"), path + ".volumes")
    names = set()
    for field_name in ("initContainers", "containers"):
        containers = spec.get(field_name) or []
        if field_name == "containers" and not containers:
            errs.append(required(path + ".containers"))  # validateContainers
        for i, container in enumerate(containers):
            cpath = "%s.%s[%d]" % (path, field_name, i)
            errs += validate_container(container, cpath, volumes)
            if container.get("name") in names:  # init and app containers share one name space
                errs.append(FieldError(DUPLICATE, cpath + ".name", container["name"]))
            names.add(container.get("name"))
            if field_name == "initContainers" and container.get("restartPolicy") != "Always":
                # validateInitContainers: only sidecars (restartPolicy Always) may have probes and lifecycle.
                for probe in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                    if probe in container:
                        errs.append(forbidden("%s.%s" % (cpath, probe), "may not be set for init containers without restartPolicy=Always"))
    if spec.get("restartPolicy") not in ("Always", "OnFailure", "Never"):  # validateRestartPolicy
        errs.append(not_supported(path + ".restartPolicy", spec.get("restartPolicy"), ["Always", "OnFailure", "Never"]))
    if spec.get("dnsPolicy") not in ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"):  # validateDNSPolicy
        errs.append(not_supported(path + ".dnsPolicy", spec.get("dnsPolicy"), ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]))
    return errs


def validate_pod_template(template, path):
    """core-val ValidatePodTemplateSpec: labels (reported under <path>.labels,
    as in the source), annotations, pod spec."""
    meta = template.get("metadata") or {}
    errs = validate_labels(meta.get("labels"), path + ".labels")
    errs += validate_annotations(meta.get("annotations"), path + ".annotations")
    return errs + validate_pod_spec(template.get("spec") or {}, path + ".spec")


def _template_matches(spec, path, workload):
    """The selector of a workload, and `selector` does not match template `labels`."""
    selector = spec.get("selector")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if selector is None:
        return [required(path + ".selector")]
    errs = validate_selector(selector, path + ".selector")
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        errs.append(invalid(path + ".selector", go_selector(selector), "empty selector is invalid for " + workload))
    elif not selector_matches(selector, labels):
        errs.append(invalid(path + ".template.metadata.labels", go_map(labels), "`selector` does not match template `labels`"))
    return errs


# ---------------------------------------------------------------------------
# Validation of each kind (create), then of updates
# ---------------------------------------------------------------------------

def _deployment(obj):
    """apps-val ValidateDeploymentSpec, ValidatePodTemplateSpecForReplicaSet, ValidateDeploymentStrategy."""
    spec = obj.get("spec") or {}
    errs = nonnegative(spec.get("replicas"), "spec.replicas") + _template_matches(spec, "spec", "deployment")
    errs += validate_pod_template(spec.get("template") or {}, "spec.template")
    restart = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
    if restart != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", restart, ["Always"]))
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            errs.append(forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"))
    elif strategy.get("type") == "RollingUpdate":
        rolling = strategy.get("rollingUpdate") or {}
        errs += int_or_percent(rolling.get("maxUnavailable"), "spec.strategy.rollingUpdate.maxUnavailable")
        errs += int_or_percent(rolling.get("maxSurge"), "spec.strategy.rollingUpdate.maxSurge")
        if rolling.get("maxUnavailable") in (0, "0%") and rolling.get("maxSurge") in (0, "0%"):
            errs.append(invalid("spec.strategy.rollingUpdate.maxUnavailable", go_int_or_string(rolling["maxUnavailable"]),
                                "may not be 0 when `maxSurge` is 0"))
    elif strategy.get("type") is not None:
        errs.append(not_supported("spec.strategy", go_struct("apps.DeploymentStrategy", strategy), ["Recreate", "RollingUpdate"]))
    deadline, min_ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds", 0)
    if isinstance(deadline, int) and deadline <= min_ready:
        errs.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return errs


def _statefulset(obj):
    """apps-val ValidateStatefulSetSpec. Its pod template is checked for the
    selector, labels and restartPolicy only: ValidatePodTemplateSpecForStatefulSet
    leaves ValidatePodSpec out (a TODO there since 2016), so a bad container in a
    StatefulSet is accepted and only its pods fail."""
    spec = obj.get("spec") or {}
    errs = []
    policy = spec.get("podManagementPolicy")
    if policy not in ("OrderedReady", "Parallel"):
        errs.append(invalid("spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'"))
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete" and strategy.get("rollingUpdate") is not None:
        errs.append(invalid("spec.updateStrategy.rollingUpdate", go_struct("apps.RollingUpdateStatefulSetStrategy", strategy["rollingUpdate"]),
                            "only allowed for updateStrategy 'RollingUpdate'"))
    elif strategy.get("type") not in ("OnDelete", "RollingUpdate"):
        errs.append(invalid("spec.updateStrategy", go_struct("apps.StatefulSetUpdateStrategy", strategy), "must be 'RollingUpdate' or 'OnDelete'"))
    errs += nonnegative(spec.get("replicas"), "spec.replicas") + nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    errs += _template_matches(spec, "spec", "statefulset")
    template_meta = (spec.get("template") or {}).get("metadata") or {}
    errs += validate_labels(template_meta.get("labels"), "spec.template.labels")
    errs += validate_annotations(template_meta.get("annotations"), "spec.template.annotations")
    template_spec = (spec.get("template") or {}).get("spec") or {}
    if template_spec.get("restartPolicy") != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", template_spec.get("restartPolicy"), ["Always"]))
    if template_spec.get("activeDeadlineSeconds") is not None:
        errs.append(forbidden("spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in StatefulSet is not Supported"))
    return errs


def _job_spec(spec, path):
    """batch-val validateJobSpec: counts, pod template, restartPolicy OnFailure or Never."""
    errs = []
    for field_name in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit"):
        errs += nonnegative(spec.get(field_name), "%s.%s" % (path, field_name))
    errs += validate_pod_template(spec.get("template") or {}, path + ".template")
    restart = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
    if restart not in ("OnFailure", "Never"):
        errs.append(not_supported(path + ".template.spec.restartPolicy", restart, ["OnFailure", "Never"]))
    return errs


def _job(obj):
    """batch-val ValidateJob: the (generated or manual) selector must select the pod template."""
    spec = obj.get("spec") or {}
    errs = _job_spec(spec, "spec")
    if spec.get("manualSelector") is True:
        errs += _template_matches(spec, "spec", "job")
    return errs


_CRON_RANGES = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6))
_CRON_NAMES = {3: ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
               4: ("sun", "mon", "tue", "wed", "thu", "fri", "sat")}


def cron_error(schedule):
    """robfig/cron/v3 ParseStandard, as batch-val validateScheduleFormat calls it; the error text or None."""
    if schedule.startswith("@"):
        return None if schedule in ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly") \
            or schedule.startswith("@every ") else "unrecognized descriptor: " + schedule
    fields = schedule.split()
    if len(fields) != 5:
        return "expected exactly 5 fields, found %d: [%s]" % (len(fields), " ".join(fields))
    for index, (text, (_name, low, high)) in enumerate(zip(fields, _CRON_RANGES)):
        for expr in text.split(","):
            span = expr.split("/")[0]
            if span in ("*", "?"):
                continue
            bounds = span.split("-")
            values = []
            for bound in bounds:
                names = _CRON_NAMES.get(index, ())
                if bound.lower() in names:
                    values.append(names.index(bound.lower()) + (1 if index == 3 else 0))
                elif bound.isdigit():
                    values.append(int(bound))
                else:
                    return 'failed to parse int from %s: strconv.Atoi: parsing "%s": invalid syntax' % (bound, bound)
            if values[0] < low:
                return "beginning of range (%d) below minimum (%d): %s" % (values[0], low, expr)
            if values[-1] > high:
                return "end of range (%d) above maximum (%d): %s" % (values[-1], high, expr)
    return None


@functools.lru_cache(maxsize=1)
def known_time_zones():
    """The IANA zones of this machine (empty without tzdata: then time zones are not checked)."""
    return frozenset(zoneinfo.available_timezones())


def _cronjob(obj):
    """batch-val validateCronJobSpec, ValidateJobTemplateSpec."""
    spec = obj.get("spec") or {}
    errs = []
    schedule = spec.get("schedule") or ""
    if not schedule:
        errs.append(required("spec.schedule"))
    elif "TZ" in schedule:
        errs.append(invalid("spec.schedule", schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
    elif cron_error(schedule):
        errs.append(invalid("spec.schedule", schedule, cron_error(schedule)))
    zone = spec.get("timeZone")
    if zone is not None and known_time_zones() and zone not in known_time_zones() and zone != "UTC":
        errs.append(invalid("spec.timeZone", zone, "unknown time zone " + zone))  # validateTimeZone: time.LoadLocation's error
    errs += nonnegative(spec.get("startingDeadlineSeconds"), "spec.startingDeadlineSeconds")
    if spec.get("concurrencyPolicy") not in ("Allow", "Forbid", "Replace"):
        errs.append(not_supported("spec.concurrencyPolicy", spec.get("concurrencyPolicy"), ["Allow", "Forbid", "Replace"]))
    for field_name in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        errs += nonnegative(spec.get(field_name), "spec." + field_name)
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    errs += _job_spec(job_spec, "spec.jobTemplate.spec")
    if job_spec.get("selector") is not None:
        errs.append(invalid("spec.jobTemplate.spec.selector", go_selector(job_spec["selector"]), "`selector` will be auto-generated"))
    if job_spec.get("manualSelector") is True:
        errs.append(not_supported("spec.jobTemplate.spec.manualSelector", True, ["nil", "false"]))
    return errs


def _service(obj):
    """core-val ValidateService, validateServicePort."""
    spec = obj.get("spec") or {}
    errs = []
    kind = spec.get("type")
    if kind not in ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort"):
        errs.append(not_supported("spec.type", kind, ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]))
    ports = spec.get("ports") or []
    if not ports and spec.get("clusterIP") != "None" and kind != "ExternalName":
        errs.append(required("spec.ports"))
    names = set()
    for i, port in enumerate(ports):
        ppath = "spec.ports[%d]" % i
        if len(ports) > 1 and not port.get("name"):
            errs.append(required(ppath + ".name"))
        elif port.get("name"):
            errs += [invalid(ppath + ".name", port["name"], m) for m in is_dns1123_label(port["name"])]
            if port["name"] in names:
                errs.append(FieldError(DUPLICATE, ppath + ".name", port["name"]))
            names.add(port["name"])
        errs += [invalid(ppath + ".port", port.get("port"), m) for m in is_port_num(port.get("port"))]
        if port.get("protocol") not in ("SCTP", "TCP", "UDP"):
            errs.append(not_supported(ppath + ".protocol", port.get("protocol"), ["SCTP", "TCP", "UDP"]))
        errs += validate_port_num_or_name(port.get("targetPort"), ppath + ".targetPort")
    if spec.get("sessionAffinity") not in ("ClientIP", "None"):
        errs.append(not_supported("spec.sessionAffinity", spec.get("sessionAffinity"), ["ClientIP", "None"]))
    return errs


def _pvc_spec(spec, path):
    """core-val ValidatePersistentVolumeClaimSpec: access modes, a positive storage request."""
    errs = []
    modes = spec.get("accessModes") or []
    if not modes:
        errs.append(required(path + ".accessModes", "at least 1 access mode is required"))
    for mode in modes:
        if mode not in ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"):
            errs.append(not_supported(path + ".accessModes", mode, ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]))
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    if storage is None:
        errs.append(required(path + ".resources[storage]"))  # sic: Child("resources").Key("storage")
    elif parse_quantity(storage) <= 0:
        errs.append(invalid(path + ".resources[storage]", str(storage), "must be greater than zero"))
    return errs


def _config_data(obj):
    """core-val ValidateConfigMap / ValidateSecret: keys, and 1 MiB in all."""
    errs, size = [], 0
    for section in ("data", "binaryData", "stringData"):
        for key, value in (obj.get(section) or {}).items():
            errs += [invalid("%s[%s]" % (section, key), key, m) for m in is_config_map_key(key)]
            size += len(str(value))
    if size > 1024 * 1024:
        errs.append(FieldError(TOO_LONG, "data" if obj["kind"] == "Secret" else "", OMIT, "may not be more than 1048576 bytes"))
    return errs


def _network_policy(obj):
    """pkg/apis/networking/validation/validation.go ValidateNetworkPolicySpec, ValidateNetworkPolicyPort."""
    spec = obj.get("spec") or {}
    errs = validate_selector(spec.get("podSelector"), "spec.podSelector")
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            for j, port in enumerate(rule.get("ports") or []):
                ppath = "spec.%s[%d].ports[%d]" % (direction, i, j)
                if port.get("protocol") not in (None, "TCP", "UDP", "SCTP"):
                    errs.append(not_supported(ppath + ".protocol", port["protocol"], ["TCP", "UDP", "SCTP"]))
                if "port" in port:
                    errs += validate_port_num_or_name(port["port"], ppath + ".port")
            for j, peer in enumerate(rule.get(peers) or []):
                for selector in ("podSelector", "namespaceSelector"):
                    errs += validate_selector(peer.get(selector), "spec.%s[%d].%s[%d].%s" % (direction, i, peers, j, selector))
    for i, policy in enumerate(spec.get("policyTypes") or []):
        if policy not in ("Ingress", "Egress"):
            errs.append(not_supported("spec.policyTypes[%d]" % i, policy, ["Ingress", "Egress"]))
    return errs


def _pdb(obj):
    """pkg/apis/policy/validation/validation.go ValidatePodDisruptionBudgetSpec."""
    spec = obj.get("spec") or {}
    errs = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        errs.append(invalid("spec", go_struct("policy.PodDisruptionBudgetSpec", spec), "minAvailable and maxUnavailable cannot be both set"))
    for field_name in ("minAvailable", "maxUnavailable"):
        if spec.get(field_name) is not None:
            errs += int_or_percent(spec[field_name], "spec." + field_name)
    return errs + validate_selector(spec.get("selector"), "spec.selector")


def _storage_class(obj):
    """pkg/apis/storage/validation/validation.go ValidateStorageClass."""
    errs = []
    provisioner = obj.get("provisioner") or ""
    if not provisioner:
        errs.append(required("provisioner"))
    else:
        errs += [invalid("provisioner", provisioner, m) for m in is_qualified_name(provisioner.lower())]
    if obj.get("reclaimPolicy") not in ("Delete", "Retain"):
        errs.append(not_supported("reclaimPolicy", obj.get("reclaimPolicy"), ["Delete", "Retain"]))
    if obj.get("volumeBindingMode") not in ("Immediate", "WaitForFirstConsumer"):
        errs.append(not_supported("volumeBindingMode", obj.get("volumeBindingMode"), ["Immediate", "WaitForFirstConsumer"]))
    return errs


def _cluster_role(obj):
    """pkg/apis/rbac/validation/validation.go ValidatePolicyRule: verbs required."""
    errs = []
    for i, rule in enumerate(obj.get("rules") or []):
        if not rule.get("verbs"):
            errs.append(required("rules[%d].verbs" % i, "verbs must contain at least one value"))
    return errs


def _cluster_role_binding(obj):
    """pkg/apis/rbac/validation/validation.go ValidateRoleBinding: roleRef and subjects."""
    errs = []
    ref = obj.get("roleRef") or {}
    if ref.get("apiGroup") != "rbac.authorization.k8s.io":
        errs.append(not_supported("roleRef.apiGroup", ref.get("apiGroup"), ["rbac.authorization.k8s.io"]))
    if ref.get("kind") != "ClusterRole":
        errs.append(not_supported("roleRef.kind", ref.get("kind"), ["ClusterRole"]))
    if not ref.get("name"):
        errs.append(required("roleRef.name"))
    for i, subject in enumerate(obj.get("subjects") or []):
        if not subject.get("name"):
            errs.append(required("subjects[%d].name" % i))
        if subject.get("kind") == "ServiceAccount" and not subject.get("namespace"):
            errs.append(required("subjects[%d].namespace" % i))
    return errs


CREATE_RULES = {
    "Deployment": _deployment, "StatefulSet": _statefulset, "Job": _job, "CronJob": _cronjob, "Service": _service,
    "PersistentVolumeClaim": lambda obj: _pvc_spec(obj.get("spec") or {}, "spec"),
    "ConfigMap": _config_data, "Secret": _config_data, "NetworkPolicy": _network_policy, "PodDisruptionBudget": _pdb,
    "StorageClass": _storage_class, "ClusterRole": _cluster_role, "ClusterRoleBinding": _cluster_role_binding,
}


def _statefulset_update(new, old, minor):
    """apps-val ValidateStatefulSetUpdate: only some spec fields may change."""
    mutable = ["replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy", "minReadySeconds"]
    message = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
               "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")
    if minor >= 34:
        # Later releases let revisionHistoryLimit change too (kubernetes issue 130263); which release
        # first did is not verified here: 1.33 is given the list of the release-1.33 source read.
        mutable.append("revisionHistoryLimit")
        message = message.replace("'updateStrategy', ", "'updateStrategy', 'revisionHistoryLimit', ")

    def strip(spec):
        return {k: v for k, v in spec.items() if k not in mutable}
    if strip(new.get("spec") or {}) != strip(old.get("spec") or {}):
        return [forbidden("spec", message)]
    return []


def _pvc_update(new, old, _minor):
    """core-val ValidatePersistentVolumeClaimUpdate: the spec is immutable but
    for resources.requests of a bound claim, which may not go below status.capacity
    (RecoverVolumeExpansionFailure, on by default in 1.33)."""
    errs = []
    new_spec, old_spec = copy.deepcopy(new.get("spec") or {}), old.get("spec") or {}
    bound = (old.get("status") or {}).get("phase") == "Bound"
    if bound:
        new_spec.setdefault("resources", {}).setdefault("requests", {})["storage"] = \
            ((old_spec.get("resources") or {}).get("requests") or {}).get("storage")
    if new_spec != old_spec:
        changed = sorted(k for k in set(new_spec) | set(old_spec) if new_spec.get(k) != old_spec.get(k))
        # The source appends cmp.Diff of the two specs; the fake names the changed fields.
        errs.append(forbidden("spec", "spec is immutable after creation except resources.requests and volumeAttributesClassName "
                                      "for bound claims\n  core.PersistentVolumeClaimSpec{changed: %s}" % ", ".join(changed)))
    new_size = ((new.get("spec", {}).get("resources") or {}).get("requests") or {}).get("storage")
    capacity = ((old.get("status") or {}).get("capacity") or {}).get("storage")
    if bound and new_size is not None and capacity is not None and parse_quantity(new_size) < parse_quantity(capacity):
        errs.append(forbidden("spec.resources.requests.storage", "field can not be less than status.capacity"))
    return errs


def _service_update(new, old, _minor):
    """core-val ValidateServiceUpdate -> validateUpgradeDowngradeClusterIPs."""
    new_ips, old_ips = new["spec"].get("clusterIPs") or [], old["spec"].get("clusterIPs") or []
    if "ExternalName" in (new["spec"].get("type"), old["spec"].get("type")):
        return []
    if new["spec"].get("clusterIP") == old["spec"].get("clusterIP") == "None":
        return []
    return [invalid("spec.clusterIPs[%d]" % i, go_strings(new_ips), "may not change once set")
            for i, ip in enumerate(old_ips) if i < len(new_ips) and new_ips[i] != ip]


UPDATE_RULES = {
    # pkg/registry/apps/deployment/strategy.go ValidateUpdate: apps/v1 selectors are immutable.
    "Deployment": lambda new, old, _m: immutable(new["spec"].get("selector"), old["spec"].get("selector"), "spec.selector",
                                                 go_selector(new["spec"].get("selector"))),
    "StatefulSet": _statefulset_update,
    # batch-val ValidateJobSpecUpdate: the selector, and the template of a Job that is not suspended.
    "Job": lambda new, old, _m: immutable(new["spec"].get("selector"), old["spec"].get("selector"), "spec.selector",
                                          go_selector(new["spec"].get("selector")))
    + immutable(new["spec"].get("template"), old["spec"].get("template"), "spec.template",
                go_struct("core.PodTemplateSpec", new["spec"].get("template"))),
    "PersistentVolumeClaim": _pvc_update,
    "Service": _service_update,
    # pkg/apis/storage/validation/validation.go ValidateStorageClassUpdate.
    "StorageClass": lambda new, old, _m: [forbidden(f, "updates to %s are forbidden." % f) for f in ("parameters", "provisioner", "reclaimPolicy")
                                          if new.get(f) != old.get(f)]
    + immutable(new.get("volumeBindingMode"), old.get("volumeBindingMode"), "volumeBindingMode", new.get("volumeBindingMode")),
    # pkg/apis/rbac/validation/validation.go ValidateClusterRoleBindingUpdate.
    "ClusterRoleBinding": lambda new, old, _m: [invalid("roleRef", go_struct("rbac.RoleRef", new.get("roleRef")), "cannot change roleRef")]
    if new.get("roleRef") != old.get("roleRef") else [],
}


def validate(obj, old=None, minor=33):
    """The field errors the API server finds in obj (defaulted) on create, or on update from old."""
    errs = validate_metadata(obj) + CREATE_RULES.get(obj["kind"], lambda _obj: [])(obj)
    if old is not None and obj["kind"] in UPDATE_RULES:
        errs += UPDATE_RULES[obj["kind"]](obj, old, minor)
    return errs


# ---------------------------------------------------------------------------
# Defaults (what a GET returns that nobody applied)
# ---------------------------------------------------------------------------

def image_tag(image):
    """pkg/util/parsers ParseImageName's tag: "latest" when neither tag nor digest is given."""
    name, _at, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return last.rsplit(":", 1)[1]
    return "" if digest else "latest"


def default_container(container):
    """core-def SetDefaults_Container, SetDefaults_Probe, SetDefaults_HTTPGetAction; ports' protocol
    (+default="TCP" on ContainerPort.Protocol, staging/src/k8s.io/api/core/v1/types.go);
    SetDefaults_ObjectFieldSelector."""
    if not container.get("imagePullPolicy"):
        container["imagePullPolicy"] = "Always" if image_tag(container.get("image", "")) == "latest" else "IfNotPresent"
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(probe_name)
        if probe is not None:
            for field_name, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)):
                if not probe.get(field_name):
                    probe[field_name] = value
            if "httpGet" in probe:
                probe["httpGet"].setdefault("path", "/")
                probe["httpGet"].setdefault("scheme", "HTTP")
    for env in container.get("env") or []:
        field_ref = (env.get("valueFrom") or {}).get("fieldRef")
        if field_ref is not None:
            field_ref.setdefault("apiVersion", "v1")


def default_pod_template(template):
    """core-def SetDefaults_PodSpec and the defaults of what a pod spec holds (volumes, containers)."""
    spec = template.setdefault("spec", {})
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        default_container(container)
    for volume in spec.get("volumes") or []:
        if not any(source in volume for source in _VOLUME_SOURCES):
            volume["emptyDir"] = {}  # SetDefaults_Volume
        for source in ("configMap", "secret", "downwardAPI", "projected"):  # SetDefaults_*VolumeSource: 0644
            if source in volume:
                volume[source].setdefault("defaultMode", 0o644)
        if "hostPath" in volume:
            volume["hostPath"].setdefault("type", "")  # SetDefaults_HostPathVolumeSource


def _default_deployment(obj):
    """apps-def SetDefaults_Deployment."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    default_pod_template(spec.setdefault("template", {}))


def _default_pvc_spec(spec):
    """core-def SetDefaults_PersistentVolumeClaimSpec."""
    spec.setdefault("volumeMode", "Filesystem")


def _default_statefulset(obj):
    """apps-def SetDefaults_StatefulSet (StatefulSetAutoDeletePVC is GA, MaxUnavailableStatefulSet off in 1.33);
    its claim templates get core-def SetDefaults_PersistentVolumeClaim(Spec)."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        strategy.setdefault("rollingUpdate", {})
    if strategy["type"] == "RollingUpdate" and strategy.get("rollingUpdate") is not None:
        strategy["rollingUpdate"].setdefault("partition", 0)
    retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    default_pod_template(spec.setdefault("template", {}))
    for claim in spec.get("volumeClaimTemplates") or []:
        _default_pvc_spec(claim.setdefault("spec", {}))
        claim.setdefault("status", {}).setdefault("phase", "Pending")


def _default_job_spec(spec):
    """batch-def SetDefaults_Job's spec part (JobPodReplacementPolicy is beta, on, in 1.33)."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")


def _default_job(obj):
    """batch-def SetDefaults_Job (the Job takes its template's labels when it has none)."""
    spec = obj.setdefault("spec", {})
    _default_job_spec(spec)
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if labels and not obj["metadata"].get("labels"):
        obj["metadata"]["labels"] = dict(labels)
    default_pod_template(spec.setdefault("template", {}))


def _default_cronjob(obj):
    """batch-def SetDefaults_CronJob; the job template's pod spec is defaulted, the
    job template's spec is not (no SetDefaults_Job for it)."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    default_pod_template(spec.setdefault("jobTemplate", {}).setdefault("spec", {}).setdefault("template", {}))


def _default_service(obj):
    """core-def SetDefaults_Service."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("type", "ClusterIP")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if spec["type"] in ("NodePort", "LoadBalancer"):  # service.ExternallyAccessible
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer", "ClusterIP"):
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)


def _default_network_policy(obj):
    """pkg/apis/networking/v1/defaults.go SetDefaults_NetworkPolicy, SetDefaults_NetworkPolicyPort."""
    spec = obj.setdefault("spec", {})
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or []:
            for port in rule.get("ports") or []:
                port.setdefault("protocol", "TCP")


def _default_namespace(obj):
    """core-def SetDefaults_Namespace (the kubernetes.io/metadata.name label), SetDefaults_NamespaceStatus;
    pkg/registry/core/namespace/strategy.go PrepareForCreate (the kubernetes finalizer)."""
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def _default_storage_class(obj):
    """pkg/apis/storage/v1/defaults.go SetDefaults_StorageClass."""
    obj.setdefault("reclaimPolicy", "Delete")
    obj.setdefault("volumeBindingMode", "Immediate")


def _default_cluster_role_binding(obj):
    """pkg/apis/rbac/v1/defaults.go SetDefaults_ClusterRoleBinding, SetDefaults_Subject."""
    obj.setdefault("roleRef", {}).setdefault("apiGroup", "rbac.authorization.k8s.io")
    for subject in obj.get("subjects") or []:
        if not subject.get("apiGroup") and subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = "rbac.authorization.k8s.io"


DEFAULTS = {
    "Deployment": _default_deployment, "StatefulSet": _default_statefulset, "Job": _default_job, "CronJob": _default_cronjob,
    "Service": _default_service, "NetworkPolicy": _default_network_policy, "Namespace": _default_namespace,
    "StorageClass": _default_storage_class, "ClusterRoleBinding": _default_cluster_role_binding,
    "PersistentVolumeClaim": lambda obj: _default_pvc_spec(obj.setdefault("spec", {})),
    "Secret": lambda obj: obj.setdefault("type", "Opaque"),  # core-def SetDefaults_Secret
}


# ---------------------------------------------------------------------------
# Fields the server sets (allocations), kept across applies that do not own them
# ---------------------------------------------------------------------------

class Allocator:
    """Cluster IPs and node ports, as the service registry hands them out."""

    def __init__(self):
        self.ips = 10
        self.node_port = 30000

    def cluster_ip(self):
        self.ips += 1
        return "10.96.%d.%d" % (self.ips // 250, self.ips % 250 + 1)

    def port(self):
        self.node_port += 1
        return self.node_port


def _service_allocations(obj, old, allocator):
    """pkg/registry/core/service/storage/alloc.go (cluster IPs, IP families, node ports,
    health-check node port) and pkg/api/service NormalizeClusterIPs (clusterIP <-> clusterIPs).
    Fields the applier did not set keep the value the server gave them
    (server-side apply leaves unowned fields in place)."""
    spec = obj["spec"]
    old_spec = (old or {}).get("spec") or {}
    if old and "clusterIP" not in spec:
        for field_name in ("clusterIP", "clusterIPs"):
            if field_name in old_spec:
                spec[field_name] = copy.deepcopy(old_spec[field_name])
    elif old and spec.get("clusterIP") != old_spec.get("clusterIP") and "clusterIPs" not in spec:
        spec["clusterIPs"] = [spec["clusterIP"]] if spec["clusterIP"] else []  # singular changed, plural follows
    for field_name in ("ipFamilies", "ipFamilyPolicy", "healthCheckNodePort"):
        if old and field_name not in spec and field_name in old_spec:
            spec[field_name] = copy.deepcopy(old_spec[field_name])
    if spec.get("type") == "ExternalName":
        return
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    if not spec.get("clusterIP"):
        spec["clusterIP"] = allocator.cluster_ip()
        spec["clusterIPs"] = [spec["clusterIP"]]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    if spec["type"] == "NodePort" or (spec["type"] == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts")):
        old_ports = {(p.get("port"), p.get("protocol")): p.get("nodePort") for p in old_spec.get("ports") or []}
        for port in spec.get("ports") or []:
            if not port.get("nodePort"):
                port["nodePort"] = old_ports.get((port.get("port"), port.get("protocol"))) or allocator.port()
    if spec["type"] == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local" and not spec.get("healthCheckNodePort"):
        spec["healthCheckNodePort"] = allocator.port()


def _job_selector(obj, old, uid):
    """pkg/registry/batch/job/strategy.go generateSelector: unless manualSelector, the
    server labels the pod template with the Job's uid and name and selects on the uid."""
    spec = obj["spec"]
    if spec.get("manualSelector") is True:
        return []
    labels = spec["template"].setdefault("metadata", {}).setdefault("labels", {})
    generated = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": obj["metadata"]["name"],
                 "controller-uid": uid, "job-name": obj["metadata"]["name"]}
    for key, value in generated.items():
        labels.setdefault(key, value)
    expected = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    if spec.get("selector") is None:
        spec["selector"] = copy.deepcopy((old or {}).get("spec", {}).get("selector") or expected)
    elif not selector_matches(spec["selector"], generated):
        # batch-val validateGeneratedSelector.
        return [invalid("spec.selector", go_selector(spec["selector"]), "`selector` not auto-generated")]
    return []


def stored_object(applied, old, uid, allocator):
    """The object as the server stores it after applying `applied` over `old`:
    defaults, allocations, the status the server keeps; and the errors found
    while allocating. Server metadata (uid...) is the caller's."""
    obj = copy.deepcopy(applied)
    obj.pop("status", None)  # status is reset on create and kept on update by every strategy
    if old is not None and "status" in old:
        obj["status"] = copy.deepcopy(old["status"])
    DEFAULTS.get(obj["kind"], lambda _obj: None)(obj)
    errors = []
    if obj["kind"] == "Service":
        _service_allocations(obj, old, allocator)
    elif obj["kind"] == "Job":
        errors = _job_selector(obj, old, uid)
    elif obj["kind"] == "PersistentVolumeClaim" and old is None:
        # Bound at once, with the requested size (see the module's docstring).
        spec = obj.get("spec") or {}
        obj["status"] = {"phase": "Bound", "accessModes": list(spec.get("accessModes") or []),
                         "capacity": {"storage": ((spec.get("resources") or {}).get("requests") or {}).get("storage")}}
    return obj, errors
