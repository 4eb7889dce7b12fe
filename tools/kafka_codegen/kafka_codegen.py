#!/usr/bin/env python3
"""Generates klink's Kafka message codecs from Apache Kafka's JSON message specs.

Stdlib only. See README.md beside this file for the type mapping and the
layout of the output; cmake/kafka_specs.cmake runs it at build time.

    kafka_codegen.py --spec-dir DIR --out-dir DIR       generate
    kafka_codegen.py --list-outputs --out-dir DIR       print output paths
    kafka_codegen.py --list-inputs --spec-dir DIR       print spec paths read
"""

import argparse
import json
import os
import re
import sys

# The one list of APIs klink speaks. Every valid version of each is generated.
APIS = [
    "ApiVersions",
    "Metadata",
    "Fetch",
    "ListOffsets",
    "Produce",
    "InitProducerId",
    "CreateTopics",
    "DescribeConfigs",
    "SaslHandshake",
    "SaslAuthenticate",
    "CreatePartitions",
    "IncrementalAlterConfigs",
    "FindCoordinator",
    "OffsetFetch",
    "OffsetCommit",
    "ListGroups",
    "DescribeGroups",
    "JoinGroup",
    "SyncGroup",
    "Heartbeat",
    "LeaveGroup",
    "DeleteTopics",
]

# Fields whose values must never appear in logs or test failure output.
SENSITIVE_FIELDS = {("SaslAuthenticateRequest", "AuthBytes"), ("SaslAuthenticateResponse", "AuthBytes")}

MAX_VERSION = 0x7FFF

CPP_KEYWORDS = {
    "alignas", "alignof", "and", "asm", "auto", "bool", "break", "case", "catch", "char", "class",
    "concept", "const", "constexpr", "continue", "default", "delete", "do", "double", "else",
    "enum", "explicit", "export", "extern", "false", "float", "for", "friend", "goto", "if",
    "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "nullptr",
    "operator", "or", "private", "protected", "public", "register", "requires", "return", "short",
    "signed", "sizeof", "static", "struct", "switch", "template", "this", "throw", "true", "try",
    "typedef", "typename", "union", "unsigned", "using", "virtual", "void", "volatile", "while",
    "xor",
}
# Names the generated message structs already use.
RESERVED_MEMBERS = {
    "api_key", "min_version", "max_version", "first_flexible_version", "encode", "decode",
    "unknown_tagged_fields",
}

PRIMITIVES = {
    # kind: (C++ type, writer call, reader call)
    "bool": ("bool", "write_bool", "read_bool"),
    "int8": ("int8_t", "write_int8", "read_int8"),
    "int16": ("int16_t", "write_int16", "read_int16"),
    "uint16": ("uint16_t", "write_uint16", "read_uint16"),
    "int32": ("int32_t", "write_int32", "read_int32"),
    "uint32": ("uint32_t", "write_uint32", "read_uint32"),
    "int64": ("int64_t", "write_int64", "read_int64"),
    "float64": ("double", "write_float64", "read_float64"),
    "uuid": ("uuid", "write_uuid", "read_uuid"),
}
INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
}


class SpecError(Exception):
    pass


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


def member_name(spec_name):
    n = snake(spec_name)
    if n in CPP_KEYWORDS:
        n += "_"
    return n


class Versions:
    """An inclusive version range; `none` is the empty range."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    @staticmethod
    def parse(text):
        text = str(text).strip()
        if text == "none":
            return Versions(1, 0)
        if text.endswith("+"):
            return Versions(int(text[:-1]), MAX_VERSION)
        if "-" in text:
            a, b = text.split("-")
            return Versions(int(a), int(b))
        return Versions(int(text), int(text))

    def empty(self):
        return self.lo > self.hi

    def contains(self, v):
        return self.lo <= v <= self.hi

    def intersect(self, other):
        return Versions(max(self.lo, other.lo), min(self.hi, other.hi))

    def covers(self, other):
        return other.empty() or (self.lo <= other.lo and self.hi >= other.hi)

    def cond(self, scope):
        """C++ condition on `version`, simplified against the message's range."""
        r = self.intersect(scope)
        if r.empty():
            return "false"
        parts = []
        if r.lo > scope.lo:
            parts.append("version >= %d" % r.lo)
        if r.hi < scope.hi:
            parts.append("version <= %d" % r.hi)
        return " && ".join(parts) if parts else "true"

    def __repr__(self):
        if self.empty():
            return "none"
        if self.hi == MAX_VERSION:
            return "%d+" % self.lo
        return "%d-%d" % (self.lo, self.hi)


class Field:
    def __init__(self, spec, owner):
        self.spec = spec
        self.name = spec["name"]
        self.owner = owner
        self.type = spec["type"]
        self.versions = Versions.parse(spec["versions"])
        self.nullable = Versions.parse(spec.get("nullableVersions", "none"))
        self.tagged = Versions.parse(spec.get("taggedVersions", "none"))
        self.tag = spec.get("tag")
        self.ignorable = bool(spec.get("ignorable", False))
        self.default = spec.get("default")
        self.flexible_override = (
            Versions.parse(spec["flexibleVersions"]) if "flexibleVersions" in spec else None
        )
        self.zero_copy = bool(spec.get("zeroCopy", False))
        self.member = member_name(self.name)
        self.is_array = self.type.startswith("[]")
        self.elem = self.type[2:] if self.is_array else self.type
        self.struct = None  # resolved Struct when elem is a struct type
        if not self.tagged.empty():
            if self.tag is None:
                raise SpecError("%s: taggedVersions without tag" % self.name)
            if self.tagged.hi < self.versions.hi:
                raise SpecError("%s: taggedVersions must be open-ended" % self.name)
            self.regular = Versions(self.versions.lo, min(self.versions.hi, self.tagged.lo - 1))
        else:
            self.regular = self.versions

    @property
    def elem_kind(self):
        if self.struct is not None:
            return "struct"
        if self.elem == "bytes" and self.zero_copy:
            return "zbytes"
        return self.elem


class Struct:
    def __init__(self, spec_name, fields_spec, parent, message):
        self.spec_name = spec_name
        self.cpp_name = snake(spec_name)
        self.parent = parent
        self.message = message
        self.nested = []
        self.fields = [Field(f, self) for f in fields_spec]
        self.users = []  # structs with a field of this type

    @property
    def qualified(self):
        if self.parent is None:
            return self.cpp_name
        return self.parent.qualified + "::" + self.cpp_name

    def tagged_fields(self):
        return sorted((f for f in self.fields if not f.tagged.empty()), key=lambda f: f.tag)

    def all_structs(self):
        """Post-order: nested types before the struct that contains them."""
        out = []
        for n in self.nested:
            out.extend(n.all_structs())
        out.append(self)
        return out


def load_json(path):
    with open(path, encoding="utf-8") as fh:
        text = "\n".join(l for l in fh.read().splitlines() if not l.lstrip().startswith("//"))
    return json.loads(text)


class Message(Struct):
    def __init__(self, spec, api):
        self.spec = spec
        self.api = api
        self.kind = spec["type"]
        self.api_key = spec["apiKey"]
        self.valid = Versions.parse(spec["validVersions"])
        self.flexible = Versions.parse(spec.get("flexibleVersions", "none"))
        self.commons = {}
        Struct.__init__(self, spec["name"], spec["fields"], None, self)
        self.common_list = []
        for c in spec.get("commonStructs", []):
            s = Struct(c["name"], c["fields"], self, self)
            self.commons[c["name"]] = s
            self.common_list.append(s)
        self.resolve(self)
        for s in self.common_list:
            self.resolve(s)
        self.order_commons()
        self.rename_conflicts()
        for f in self.fields:
            if f.member in RESERVED_MEMBERS:
                raise SpecError("%s: field %s clashes with a generated member" % (self.spec_name, f.name))

    def resolve(self, struct):
        for f in struct.fields:
            if not f.elem[:1].isupper():
                continue
            if "fields" in f.spec:
                child = Struct(f.elem, f.spec["fields"], struct, self)
                struct.nested.append(child)
                f.struct = child
                self.resolve(child)
            elif f.elem in self.commons:
                f.struct = self.commons[f.elem]
            else:
                raise SpecError("%s: unknown struct type %s" % (self.spec_name, f.elem))
            f.struct.users.append(struct)

    def order_commons(self):
        done, ordered = set(), []

        def visit(s, stack):
            if s.spec_name in done:
                return
            if s.spec_name in stack:
                raise SpecError("recursive common structs")
            for n in s.all_structs():
                for f in n.fields:
                    if f.struct is not None and f.struct.spec_name in self.commons:
                        if f.struct is not s:
                            visit(f.struct, stack | {s.spec_name})
            done.add(s.spec_name)
            ordered.append(s)

        for s in self.common_list:
            visit(s, set())
        self.common_list = ordered

    def every_struct(self):
        out = []
        for c in self.common_list:
            out.extend(c.all_structs())
        out.extend(self.all_structs())
        return out

    def rename_conflicts(self):
        # A member named like a type visible in the same class scope (e.g.
        # `replica_state replica_state;`) is ill-formed C++, so such types get
        # a `_data` suffix.
        for s in self.every_struct():
            if s is self:
                continue
            scopes = [s.parent] + s.users
            members = {f.member for sc in scopes for f in sc.fields}
            if s.cpp_name in members:
                s.cpp_name += "_data"


# ---------------------------------------------------------------- C++ types


def cpp_scalar(field, kind):
    if kind in PRIMITIVES:
        return PRIMITIVES[kind][0]
    if kind == "string":
        return "std::string"
    if kind == "bytes":
        return "byte_vector"
    if kind in ("records", "zbytes"):
        return "bytes_view"
    if kind == "struct":
        return field.struct.cpp_name
    raise SpecError("unsupported type %s" % kind)


def cpp_type(field):
    kind = field.elem_kind
    nullable = not field.nullable.empty()
    if field.is_array:
        t = "std::vector<%s>" % cpp_scalar(field, kind)
        return "std::optional<%s>" % t if nullable else t
    if kind == "records":
        return "std::optional<bytes_view>"
    t = cpp_scalar(field, kind)
    return "std::optional<%s>" % t if nullable else t


def int_literal(kind, value):
    lo, hi = INT_RANGES[kind]
    if not lo <= value <= hi:
        raise SpecError("default %d out of range for %s" % (value, kind))
    ctype = PRIMITIVES[kind][0]
    if value == lo and lo < 0:
        return "std::numeric_limits<%s>::min()" % ctype
    if kind == "int64":
        return "INT64_C(%d)" % value
    if kind == "uint32":
        return "%du" % value
    return str(value)


def parse_int(text):
    if isinstance(text, int):
        return text
    text = str(text).strip()
    neg = text.startswith("-")
    body = text[1:] if neg else text
    v = int(body, 16) if body.lower().startswith("0x") else int(body, 10)
    return -v if neg else v


def default_expr(field):
    """C++ initializer for the member, or None for value-initialisation."""
    kind = field.elem_kind
    d = field.default
    nullable = not field.nullable.empty()
    if field.is_array:
        if d is not None and d != "null" and d != "":
            raise SpecError("%s: arrays only take null defaults" % field.name)
        if nullable:
            # Kafka defaults a nullable array to empty unless told "null".
            return "std::nullopt" if d == "null" else "std::in_place"
        return None
    if d == "null":
        if not nullable:
            raise SpecError("%s: null default on non-nullable field" % field.name)
        return "std::nullopt"
    if kind in INT_RANGES:
        return int_literal(kind, parse_int(d)) if d not in (None, "") else None
    if kind == "bool":
        if d in (None, ""):
            return None
        return "true" if str(d).lower() == "true" else "false"
    if kind == "float64":
        return repr(float(d)) if d not in (None, "") else None
    if kind == "string":
        if d in (None, ""):
            # Kafka's default for a nullable string without "null" is "".
            return 'std::string()' if nullable else None
        return "std::string(%s)" % json.dumps(d)
    if kind == "records":
        return None  # std::optional: null
    if d not in (None, ""):
        raise SpecError("%s: unsupported default for %s" % (field.name, kind))
    return None


def default_value(field):
    """Expression of the default value (used to decide whether to write a tagged field)."""
    e = default_expr(field)
    if e is not None:
        return e
    return cpp_type_q(field) + "{}"


def cpp_type_q(field):
    """Type spelled fully qualified (for use outside the class body)."""
    t = cpp_type(field)
    if field.struct is not None:
        t = t.replace(field.struct.cpp_name, field.struct.qualified, 1)
    return t


# ---------------------------------------------------------------- emitters


class Out:
    def __init__(self):
        self.lines = []

    def __call__(self, text="", indent=0):
        for line in text.split("\n") if text else [""]:
            self.lines.append(("  " * indent + line) if line else "")

    def text(self):
        return "\n".join(self.lines) + "\n"


def first_sentence(about):
    about = " ".join(str(about).split())
    m = re.match(r"(.+?\.)(\s|$)", about)
    s = m.group(1) if m else about
    return s if len(s) <= 110 else s[:107] + "..."


def emit_struct_decl(out, s, msg, indent):
    out("struct %s {" % s.cpp_name, indent)
    inner = indent + 1
    if s is msg:
        first_flex = msg.flexible.lo if not msg.flexible.empty() else -1
        out("static constexpr int16_t api_key = %d;" % msg.api_key, inner)
        out("static constexpr int16_t min_version = %d;" % msg.valid.lo, inner)
        out("static constexpr int16_t max_version = %d;" % msg.valid.hi, inner)
        out("// -1: no version of this message is flexible.", inner)
        out("static constexpr int16_t first_flexible_version = %d;" % first_flex, inner)
        out("", 0)
        for c in msg.common_list:
            emit_struct_decl(out, c, msg, inner)
            out("", 0)
    for n in s.nested:
        emit_struct_decl(out, n, msg, inner)
        out("", 0)
    for f in s.fields:
        notes = "v%s" % f.versions
        if not f.nullable.empty():
            notes += ", nullable v%s" % f.nullable
        if not f.tagged.empty():
            notes += ", tag %d" % f.tag
        if (msg.spec_name, f.name) in SENSITIVE_FIELDS:
            notes += ", SENSITIVE: never log"
        about = first_sentence(f.spec.get("about", ""))
        out("// %s (%s)" % (about, notes) if about else "// (%s)" % notes, inner)
        d = default_expr(f)
        if d is None:
            out("%s %s{};" % (cpp_type(f), f.member), inner)
        else:
            out("%s %s{%s};" % (cpp_type(f), f.member, d), inner)
    out("std::vector<tagged_field> unknown_tagged_fields;", inner)
    if s is msg:
        out("", 0)
        out("// Fields absent from `version` are skipped (see kafka/protocol/README.md).", inner)
        out("void encode(wire_writer& w, int16_t version) const;", inner)
        out("// Resets *this, then reads one message; does not require the reader to", inner)
        out("// be exhausted (see decode_message in kafka/protocol/frame.h).", inner)
        out("std::expected<void, decode_error> decode(wire_reader& r, int16_t version);", inner)
    out("", 0)
    out("friend bool operator==(const %s& a, const %s& b);" % (s.cpp_name, s.cpp_name), inner)
    out("};", indent)


def flex_expr(field, flex_var):
    if field.flexible_override is not None:
        c = field.flexible_override.cond(field.owner.message.valid)
        return "(%s)" % c if c not in ("true", "false") else c
    return flex_var


def null_cond(field, scope):
    """'' when the C++ type is not optional, else a C++ condition."""
    if field.nullable.empty():
        return ""
    c = field.nullable.cond(scope)
    if field.nullable.covers(field.versions.intersect(scope)):
        return "true"
    return c


def emit_write_value(out, field, kind, expr, optional, ncond, flex, indent, is_elem=False):
    """Writes one value. `optional` says whether expr is a std::optional."""
    if kind in PRIMITIVES:
        out("w.%s(%s);" % (PRIMITIVES[kind][1], expr), indent)
    elif kind == "string":
        if not optional:
            out("w.write_string(%s, %s);" % (expr, flex), indent)
        elif ncond == "true":
            out("w.write_nullable_string(%s, %s);" % (expr, flex), indent)
        else:
            out("if (%s) {" % ncond, indent)
            out("w.write_nullable_string(%s, %s);" % (expr, flex), indent + 1)
            out("} else {", indent)
            out("w.write_string(%s ? std::string_view(*%s) : std::string_view(), %s);"
                % (expr, expr, flex), indent + 1)
            out("}", indent)
    elif kind == "bytes":
        if not optional:
            out("w.write_bytes(%s, %s);" % (expr, flex), indent)
        elif ncond == "true":
            out("w.write_nullable_bytes(%s, %s);" % (expr, flex), indent)
        else:
            out("if (%s) {" % ncond, indent)
            out("w.write_nullable_bytes(%s, %s);" % (expr, flex), indent + 1)
            out("} else {", indent)
            out("w.write_bytes(%s ? bytes_view(*%s) : bytes_view(), %s);" % (expr, expr, flex),
                indent + 1)
            out("}", indent)
    elif kind in ("records", "zbytes"):
        if not optional:
            out("w.write_records(%s, %s);" % (expr, flex), indent)
        elif ncond == "true":
            out("w.write_records(%s, %s);" % (expr, flex), indent)
        else:
            out("w.write_records((%s) ? %s : std::optional<bytes_view>(%s.value_or(bytes_view())), %s);"
                % (ncond, expr, expr, flex), indent)
    elif kind == "struct":
        if not optional:
            out("write(w, %s, version);" % expr, indent)
        else:
            out("if (%s) {" % ncond, indent)
            out("w.write_int8(%s ? 1 : -1);" % expr, indent + 1)
            out("if (%s) write(w, *%s, version);" % (expr, expr), indent + 1)
            out("} else {", indent)
            out("write(w, %s ? *%s : %s{}, version);" % (expr, expr, field.struct.qualified),
                indent + 1)
            out("}", indent)
    else:
        raise SpecError("cannot write %s" % kind)


def emit_write_field(out, field, expr, flex, scope, indent):
    ncond = null_cond(field, scope)
    optional = ncond != ""
    kind = field.elem_kind
    if not field.is_array:
        if kind == "records" and not optional:
            ncond = "false"
        emit_write_value(out, field, kind, expr, optional or kind == "records", ncond or "true",
                         flex, indent)
        return
    out("{", indent)
    i = indent + 1
    if optional:
        out("if (!%s) {" % expr, i)
        if ncond == "true":
            out("w.write_null_array(%s);" % flex, i + 1)
        else:
            out("if (%s) {" % ncond, i + 1)
            out("w.write_null_array(%s);" % flex, i + 2)
            out("} else {", i + 1)
            out("w.write_array_length(0, %s);" % flex, i + 2)
            out("}", i + 1)
        out("} else {", i)
        arr = "(*%s)" % expr
        j = i + 1
    else:
        arr = expr
        j = i
    out("w.write_array_length(%s.size(), %s);" % (arr, flex), j)
    out("for (const auto& e : %s) {" % arr, j)
    emit_write_value(out, field, kind, "e", kind == "records", "true", flex, j + 1, True)
    out("}", j)
    if optional:
        out("}", i)
    out("}", indent)


def emit_read_value(out, field, kind, target, optional, ncond, flex, indent):
    """Reads one value into `target` (an lvalue)."""
    if kind in PRIMITIVES:
        out("%s = r.%s();" % (target, PRIMITIVES[kind][2]), indent)
    elif kind in ("string", "bytes"):
        base = "string" if kind == "string" else "bytes"
        if not optional:
            out("%s = r.read_%s(%s);" % (target, base, flex), indent)
        elif ncond == "true":
            out("%s = r.read_nullable_%s(%s);" % (target, base, flex), indent)
        else:
            out("if (%s) {" % ncond, indent)
            out("%s = r.read_nullable_%s(%s);" % (target, base, flex), indent + 1)
            out("} else {", indent)
            out("%s = r.read_%s(%s);" % (target, base, flex), indent + 1)
            out("}", indent)
    elif kind in ("records", "zbytes"):
        if kind == "zbytes" and not optional:
            out("%s = r.read_records(%s, false).value_or(bytes_view());" % (target, flex), indent)
        elif ncond == "true":
            out("%s = r.read_records(%s, true);" % (target, flex), indent)
        else:
            out("%s = r.read_records(%s, %s);" % (target, flex, ncond or "false"), indent)
    elif kind == "struct":
        if not optional:
            out("read(r, %s, version);" % target, indent)
        else:
            out("if ((%s) && r.read_int8() < 0) {" % ncond, indent)
            out("%s.reset();" % target, indent + 1)
            out("} else {", indent)
            out("read(r, %s.emplace(), version);" % target, indent + 1)
            out("}", indent)
    else:
        raise SpecError("cannot read %s" % kind)


def emit_read_field(out, field, target, flex, scope, indent):
    ncond = null_cond(field, scope)
    optional = ncond != ""
    kind = field.elem_kind
    if not field.is_array:
        emit_read_value(out, field, kind, target, optional, ncond, flex, indent)
        return
    out("{", indent)
    i = indent + 1
    out("auto n = r.read_array_length(%s, %s);" % (flex, ncond if optional else "false"), i)
    if optional:
        out("if (!n) {", i)
        out("%s.reset();" % target, i + 1)
        out("} else {", i)
        out("auto& a = %s.emplace();" % target, i + 1)
        j = i + 1
    else:
        out("auto& a = %s;" % target, i)
        out("a.clear();", i)
        j = i
    out("a.reserve(std::min<std::size_t>(*n, 64));", j)
    out("for (std::size_t k = 0; k < *n && r.ok(); ++k) {", j)
    out("auto& e = a.emplace_back();", j + 1)
    if kind == "records":
        out("e = r.read_records(%s, false).value_or(bytes_view());" % flex, j + 1)
    else:
        emit_read_value(out, field, kind, "e", False, "", flex, j + 1)
    out("}", j)
    if optional:
        out("}", i)
    out("}", indent)


def emit_is_nondefault(field, expr):
    kind = field.elem_kind
    d = default_expr(field)
    if field.is_array:
        if d == "std::nullopt":
            return "%s.has_value()" % expr
        if not field.nullable.empty():
            return "!(%s && %s->empty())" % (expr, expr)
        return "!%s.empty()" % expr
    if kind in ("records", "zbytes") and field.nullable.empty() and kind == "zbytes":
        return "!%s.empty()" % expr
    if kind in ("records", "zbytes"):
        return "%s.has_value()" % expr
    if kind == "uuid":
        return "!%s.is_zero()" % expr
    return "!(%s == %s)" % (expr, default_value(field))



def emit_regular_fields(out, s, scope, flex, emit):
    """Writes or reads (`emit`) every non-tagged field of `s` present in some
    version of `scope`, guarded by the versions it exists in."""
    for f in s.fields:
        c = f.regular.cond(scope)
        if c == "false":
            continue
        if c == "true":
            emit(out, f, "x." + f.member, flex_expr(f, flex), scope, 1)
        else:
            out("if (%s) {" % c, 1)
            emit(out, f, "x." + f.member, flex_expr(f, flex), scope, 2)
            out("}", 1)

def emit_codec(out, s, msg):
    scope = msg.valid
    q = s.qualified
    has_flex = not msg.flexible.empty()
    out("void write(wire_writer& w, const %s& x, [[maybe_unused]] int16_t version) {" % q)
    if has_flex:
        out("const bool flex = version >= %d;" % msg.flexible.lo, 1)
    flex = "flex" if has_flex else "false"
    emit_regular_fields(out, s, scope, flex, emit_write_field)
    if has_flex:
        tagged = s.tagged_fields()
        out("if (flex) {", 1)
        out("uint32_t count = static_cast<uint32_t>(x.unknown_tagged_fields.size());", 2)
        for f in tagged:
            c = f.tagged.cond(scope)
            out("const bool has_%s = (%s) && %s;" % (f.member, c, emit_is_nondefault(f, "x." + f.member)), 2)
            out("count += has_%s ? 1 : 0;" % f.member, 2)
        out("w.write_uvarint(count);", 2)
        if tagged:
            out("std::size_t u = 0;", 2)
            out("const auto& unknown = x.unknown_tagged_fields;", 2)
            for f in tagged:
                # Unknown fields are kept in the order they were decoded;
                # those with smaller tags go first so the section stays sorted.
                if f.tag > 0:
                    out("for (; u < unknown.size() && unknown[u].tag < %d; ++u) {" % f.tag, 2)
                    out("w.write_tagged_field(unknown[u]);", 3)
                    out("}", 2)
                out("if (has_%s) {" % f.member, 2)
                out("wire_writer tw;", 3)
                out("{", 3)
                out("auto& w = tw;  // the value goes into its own buffer to learn its size", 4)
                emit_write_field(out, f, "x." + f.member, "true", scope, 4)
                out("}", 3)
                out("w.write_tagged_field(%d, tw);" % f.tag, 3)
                out("}", 2)
            out("for (; u < unknown.size(); ++u) w.write_tagged_field(unknown[u]);", 2)
        else:
            out("for (const auto& t : x.unknown_tagged_fields) w.write_tagged_field(t);", 2)
        out("}", 1)
    out("}")
    out()
    out("void read(wire_reader& r, %s& x, [[maybe_unused]] int16_t version) {" % q)
    if has_flex:
        out("const bool flex = version >= %d;" % msg.flexible.lo, 1)
    emit_regular_fields(out, s, scope, flex, emit_read_field)
    if has_flex:
        out("if (flex) {", 1)
        out("const uint32_t count = r.read_uvarint();", 2)
        out("for (uint32_t i = 0; i < count && r.ok(); ++i) {", 2)
        out("const uint32_t tag = r.read_uvarint();", 3)
        out("const uint32_t size = r.read_uvarint();", 3)
        out("wire_reader sub = r.sub_reader(size);", 3)
        out("if (!r.ok()) break;", 3)
        chain = "if"
        for f in s.tagged_fields():
            c = f.tagged.cond(scope)
            out("%s (tag == %d && (%s)) {" % (chain, f.tag, c), 3)
            out("{", 4)
            out("auto& r = sub;", 5)
            emit_read_field(out, f, "x." + f.member, "true", scope, 5)
            out("}", 4)
            out("r.adopt_error(sub);", 4)
            chain = "} else if"
        if chain == "if":
            out("{", 3)
        else:
            out("} else {", 3)
        out("auto raw = sub.read_raw(sub.remaining());", 4)
        out("x.unknown_tagged_fields.push_back({tag, byte_vector(raw.begin(), raw.end())});", 4)
        out("}", 3)
        out("}", 2)
        out("}", 1)
    out("}")
    out()
    out("}  // namespace")
    out()
    out("bool operator==(const %s& a, const %s& b) {" % (q, q))
    parts = ["detail::field_equal(a.%s, b.%s)" % (f.member, f.member) for f in s.fields]
    parts.append("a.unknown_tagged_fields == b.unknown_tagged_fields")
    out("return " + " &&\n       ".join(parts) + ";", 1)
    out("}")
    out()
    out("namespace {")
    out()


def gen_api(api, req, resp, out_dir):
    base = snake(api)
    h = Out()
    h("// Generated by tools/kafka_codegen from Kafka's %sRequest.json and %sResponse.json." % (api, api))
    h("// Do not edit: change the generator instead.")
    h("#pragma once")
    h()
    h("#include <cstdint>")
    h("#include <expected>")
    h("#include <limits>")
    h("#include <optional>")
    h("#include <string>")
    h("#include <string_view>")
    h("#include <vector>")
    h()
    h('#include "kafka/protocol/wire.h"')
    h()
    h("namespace klink::kafka::msg {")
    h()
    for m in (req, resp):
        emit_struct_decl(h, m, m, 0)
        h()
    h("struct %s_api {" % base)
    h("using request = %s;" % req.cpp_name, 1)
    h("using response = %s;" % resp.cpp_name, 1)
    h("static constexpr int16_t key = %d;" % req.api_key, 1)
    h('static constexpr std::string_view name = "%s";' % api, 1)
    h("static constexpr int16_t min_version = %d;" % req.valid.lo, 1)
    h("static constexpr int16_t max_version = %d;" % req.valid.hi, 1)
    h("static constexpr int16_t first_flexible_version = %s::first_flexible_version;" % req.cpp_name, 1)
    h("};")
    h()
    h("}  // namespace klink::kafka::msg")

    c = Out()
    c("// Generated by tools/kafka_codegen. Do not edit.")
    c('#include "kafka/messages/%s.h"' % base)
    c()
    c("#include <algorithm>")
    c("#include <string>")
    c()
    c("namespace klink::kafka::msg {")
    c("namespace {")
    c()
    structs = req.every_struct() + resp.every_struct()
    for s in structs:
        c("void write(wire_writer& w, const %s& x, int16_t version);" % s.qualified)
        c("void read(wire_reader& r, %s& x, int16_t version);" % s.qualified)
    c()
    for s in structs:
        emit_codec(c, s, s.message)
    c("}  // namespace")
    c()
    for m in (req, resp):
        c("void %s::encode(wire_writer& w, int16_t version) const { write(w, *this, version); }" % m.cpp_name)
        c()
        c("std::expected<void, decode_error> %s::decode(wire_reader& r, int16_t version) {" % m.cpp_name)
        c("if (version < min_version || version > max_version) {", 1)
        c('return std::unexpected(decode_error{"unsupported %s version " + std::to_string(version), r.offset()});' % m.spec_name, 2)
        c("}", 1)
        c("*this = %s{};" % m.cpp_name, 1)
        c("read(r, *this, version);", 1)
        c("return r.status();", 1)
        c("}", 0)
        c()
    c("}  // namespace klink::kafka::msg")
    return {
        os.path.join(out_dir, "kafka", "messages", base + ".h"): h.text(),
        os.path.join(out_dir, "kafka", "messages", base + ".cpp"): c.text(),
    }


# ---------------------------------------------------------------- test filler


def emit_fill_value(out, field, kind, target, indent, default):
    if kind == "bool":
        out("%s = !%s;" % (target, default or "false"), indent)
    elif kind in INT_RANGES:
        out("%s = f.next_int<%s>(%s);" % (target, PRIMITIVES[kind][0], default or "0"), indent)
    elif kind == "float64":
        out("%s = f.next_double(%s);" % (target, default or "0.0"), indent)
    elif kind == "uuid":
        out("%s = f.next_uuid();" % target, indent)
    elif kind == "string":
        out("%s = f.next_string();" % target, indent)
    elif kind == "bytes":
        out("%s = f.next_bytes();" % target, indent)
    elif kind in ("records", "zbytes"):
        out("%s = f.next_records();" % target, indent)
    elif kind == "struct":
        out("fill(%s, version, f);" % target, indent)


def emit_filler(out, s, msg):
    scope = msg.valid
    q = s.qualified
    out("[[maybe_unused]] void fill(%s& x, [[maybe_unused]] int16_t version, [[maybe_unused]] filler& f) {" % q)
    for fld in s.fields:
        c = fld.versions.cond(scope)
        if c == "false":
            continue
        out("if (%s) {" % c, 1)
        optional = not fld.nullable.empty()
        kind = fld.elem_kind
        d = default_expr(fld)
        if fld.is_array:
            out("auto& a = %s;" % ("x.%s.emplace()" % fld.member if optional else "x." + fld.member), 2)
            out("for (int i = 0; i < 2; ++i) {", 2)
            out("auto& e = a.emplace_back();", 3)
            emit_fill_value(out, fld, kind, "e", 3, None)
            out("}", 2)
        elif kind == "struct" and optional:
            out("fill(x.%s.emplace(), version, f);" % fld.member, 2)
        else:
            emit_fill_value(out, fld, kind, "x." + fld.member, 2,
                            d if kind in INT_RANGES or kind in ("bool", "float64") else None)
        out("}", 1)
    if not msg.flexible.empty():
        next_tag = max([f.tag for f in s.tagged_fields()], default=-1) + 1
        out("if (version >= %d) {" % msg.flexible.lo, 1)
        out("x.unknown_tagged_fields.push_back({%d, f.next_bytes()});" % (next_tag + 7), 2)
        out("}", 1)
    out("}")
    out()


def gen_tests(api, req, resp, out_dir):
    base = snake(api)
    t = Out()
    t("// Generated by tools/kafka_codegen: round-trip, truncation and trailing-byte")
    t("// tests for every version of %sRequest and %sResponse." % (api, api))
    t('#include "kafka/messages/%s.h"' % base)
    t()
    t('#include "codec_harness.h"')
    t()
    t("namespace klink::kafka::msg {")
    t("namespace {")
    t()
    t("using klink::kafka::testing::filler;")
    t()
    structs = req.every_struct() + resp.every_struct()
    for s in structs:
        t("[[maybe_unused]] void fill(%s& x, int16_t version, filler& f);" % s.qualified)
    t()
    for s in structs:
        emit_filler(t, s, s.message)
    for m in (req, resp):
        t("TEST(protocol_codec, %s) {" % m.cpp_name)
        t("klink::kafka::testing::check_all_versions<%s>(" % m.cpp_name, 1)
        t("[](%s& m, int16_t v, filler& f) { fill(m, v, f); });" % m.cpp_name, 2)
        t("}")
        t()
    t("}  // namespace")
    t("}  // namespace klink::kafka::msg")
    return {os.path.join(out_dir, "kafka", "tests", base + "_codec_test.cpp"): t.text()}


# ---------------------------------------------------------------- shared outputs


def gen_tables(pairs, out_dir):
    h = Out()
    h("// Generated by tools/kafka_codegen. Do not edit.")
    h("#pragma once")
    h()
    h("#include <cstdint>")
    h("#include <span>")
    h("#include <string_view>")
    h()
    h("namespace klink::kafka::msg {")
    h()
    h("// One row per API klink speaks; first_flexible_* is -1 when never flexible.")
    h("struct api_info {")
    h("int16_t key;", 1)
    h("std::string_view name;", 1)
    h("int16_t min_version;", 1)
    h("int16_t max_version;", 1)
    h("int16_t first_flexible_request_version;", 1)
    h("int16_t first_flexible_response_version;", 1)
    h("};")
    h()
    h("std::span<const api_info> known_apis();")
    h("// nullptr for an API key klink does not generate.")
    h("const api_info* find_api(int16_t key);")
    h()
    h("}  // namespace klink::kafka::msg")

    c = Out()
    c("// Generated by tools/kafka_codegen. Do not edit.")
    c('#include "kafka/messages/api_table.h"')
    c()
    c("#include <algorithm>")
    c("#include <array>")
    c()
    c("namespace klink::kafka::msg {")
    c("namespace {")
    c("constexpr std::array<api_info, %d> table{{" % len(pairs))
    for api, req, resp in sorted(pairs, key=lambda p: p[1].api_key):
        ff = lambda m: m.flexible.lo if not m.flexible.empty() else -1
        c('{%d, "%s", %d, %d, %d, %d},' % (req.api_key, api, req.valid.lo, req.valid.hi, ff(req), ff(resp)), 1)
    c("}};")
    c("}  // namespace")
    c()
    c("std::span<const api_info> known_apis() { return table; }")
    c()
    c("const api_info* find_api(int16_t key) {")
    c("auto it = std::ranges::find(table, key, &api_info::key);", 1)
    c("return it == table.end() ? nullptr : &*it;", 1)
    c("}")
    c()
    c("}  // namespace klink::kafka::msg")

    a = Out()
    a("// Generated by tools/kafka_codegen. Do not edit.")
    a("// Every generated API, plus a compile-time visitor over their traits.")
    a("#pragma once")
    a()
    a("#include <type_traits>")
    a()
    a('#include "kafka/messages/api_table.h"')
    for api, _, _ in pairs:
        a('#include "kafka/messages/%s.h"' % snake(api))
    a()
    a("namespace klink::kafka::msg {")
    a()
    a("// Calls f(std::type_identity<X_api>{}) for every generated API.")
    a("template <class F>")
    a("void for_each_api(F&& f) {")
    for api, _, _ in pairs:
        a("f(std::type_identity<%s_api>{});" % snake(api), 1)
    a("}")
    a()
    a("}  // namespace klink::kafka::msg")
    m = os.path.join(out_dir, "kafka", "messages")
    return {
        os.path.join(m, "api_table.h"): h.text(),
        os.path.join(m, "api_table.cpp"): c.text(),
        os.path.join(m, "all.h"): a.text(),
        os.path.join(out_dir, "kafka", "tests", "codec_harness.h"): HARNESS,
    }


HARNESS = r"""// Generated by tools/kafka_codegen. Do not edit.
// Shared checks for the generated per-message tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <string>

#include "kafka/protocol/frame.h"

namespace klink::kafka::testing {

// Produces values that differ from each field's spec default, so that every
// field present in a version is actually exercised on the wire.
class filler {
 public:
  template <class T>
  T next_int(T def) {
    T v = static_cast<T>(static_cast<int64_t>(++counter_) * 37 + 3);
    if (v == def) v = static_cast<T>(v + 1);
    return v;
  }
  double next_double(double def) {
    double v = static_cast<double>(++counter_) + 0.5;
    return v == def ? v + 1 : v;
  }
  std::string next_string() { return "s" + std::to_string(++counter_); }
  byte_vector next_bytes() {
    ++counter_;
    return {std::byte(counter_), std::byte(counter_ >> 8), std::byte{0x5a}};
  }
  bytes_view next_records() {
    ++counter_;
    auto& b = records_.emplace_back(byte_vector(5 + counter_ % 7, std::byte(counter_)));
    return b;
  }
  uuid next_uuid() {
    uuid u;
    ++counter_;
    for (std::size_t i = 0; i < u.bytes.size(); ++i) u.bytes[i] = std::byte(counter_ + i);
    return u;
  }

 private:
  unsigned counter_ = 0;
  std::deque<byte_vector> records_;
};

template <class M, class Fill>
void check_all_versions(Fill fill) {
  for (int16_t v = M::min_version; v <= M::max_version; ++v) {
    SCOPED_TRACE("version " + std::to_string(v));
    filler f;
    M m;
    fill(m, v, f);
    wire_writer w;
    m.encode(w, v);
    const byte_vector bytes = w.flatten();

    auto decoded = decode_message<M>(bytes, v);
    ASSERT_TRUE(decoded.has_value())
        << decoded.error().what << " at offset " << decoded.error().offset;
    EXPECT_TRUE(*decoded == m) << "decoded value differs from the encoded one";
    wire_writer w2;
    decoded->encode(w2, v);
    EXPECT_TRUE(w2.flatten() == bytes) << "re-encoding changed the bytes";

    for (std::size_t k = 0; k < bytes.size(); ++k) {
      auto r = decode_message<M>(bytes_view(bytes).first(k), v);
      EXPECT_FALSE(r.has_value()) << "prefix of " << k << " bytes decoded";
      if (r.has_value()) break;
    }
    byte_vector longer = bytes;
    longer.push_back(std::byte{0});
    EXPECT_FALSE(decode_message<M>(longer, v).has_value()) << "trailing byte accepted";

    M d;
    wire_writer wd;
    d.encode(wd, v);
    const byte_vector dbytes = wd.flatten();
    auto dd = decode_message<M>(dbytes, v);
    ASSERT_TRUE(dd.has_value()) << "default message: " << dd.error().what;
    wire_writer wd2;
    dd->encode(wd2, v);
    EXPECT_TRUE(wd2.flatten() == dbytes) << "default message did not round-trip";
  }
  EXPECT_FALSE(decode_message<M>(bytes_view(), M::max_version + 1).has_value());
}

}  // namespace klink::kafka::testing
"""


def load_pairs(spec_dir):
    pairs = []
    for api in APIS:
        req = Message(load_json(os.path.join(spec_dir, api + "Request.json")), api)
        resp = Message(load_json(os.path.join(spec_dir, api + "Response.json")), api)
        if req.valid.lo != resp.valid.lo or req.valid.hi != resp.valid.hi:
            raise SpecError("%s: request and response validVersions differ" % api)
        pairs.append((api, req, resp))
    return pairs


def output_paths(out_dir):
    paths = []
    for api in APIS:
        b = os.path.join(out_dir, "kafka", "messages", snake(api))
        paths += [b + ".h", b + ".cpp"]
    m = os.path.join(out_dir, "kafka", "messages")
    paths += [os.path.join(m, "api_table.h"), os.path.join(m, "api_table.cpp"), os.path.join(m, "all.h")]
    t = os.path.join(out_dir, "kafka", "tests")
    paths.append(os.path.join(t, "codec_harness.h"))
    paths += [os.path.join(t, snake(api) + "_codec_test.cpp") for api in APIS]
    return paths


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec-dir")
    ap.add_argument("--out-dir")
    ap.add_argument("--list-outputs", action="store_true")
    ap.add_argument("--list-inputs", action="store_true")
    args = ap.parse_args(argv)
    if args.list_outputs:
        print(";".join(output_paths(args.out_dir)))
        return 0
    if args.list_inputs:
        print(";".join(os.path.join(args.spec_dir, a + k + ".json") for a in APIS for k in ("Request", "Response")))
        return 0
    if not args.spec_dir or not args.out_dir:
        ap.error("--spec-dir and --out-dir are required")
    try:
        pairs = load_pairs(args.spec_dir)
        files = {}
        for api, req, resp in pairs:
            files.update(gen_api(api, req, resp, args.out_dir))
            files.update(gen_tests(api, req, resp, args.out_dir))
        files.update(gen_tables(pairs, args.out_dir))
    except (SpecError, OSError, ValueError, KeyError) as e:
        print("kafka_codegen: error: %s" % e, file=sys.stderr)
        return 1
    assert sorted(files) == sorted(output_paths(args.out_dir))
    for path, text in files.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # Unchanged files are left alone so that their dependents are not rebuilt.
        try:
            with open(path, encoding="utf-8") as fh:
                if fh.read() == text:
                    continue
        except OSError:
            pass
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
