#!/usr/bin/env python3
"""Generates the model catalog (models/*.json) from the architecture facts file and the catalog's own entries.

Usage: scripts/gen_catalog.py [--client build/client/tscale-client] [--extra models/source/linear-time.json]
                              models/source/model-architectures.csv models/

Every row of the facts file (a copy of shared/reference/model-architectures.csv, kept with its output) becomes
one tscale JSON config (format: docs/model-config.md). Shapes, position limits and counts come from the CSV
columns; what a family adds on top (norm placement, biases, sharing, windows, ...) is its layout in
common/families/, read through `tscale-client families --json`, so this script holds no family knowledge. The
output is committed: the build never runs this script, and the test catalog_is_generated_from_family_homes
checks that the committed files are what it writes.

The second source (--extra; default: linear-time.json next to the CSV, when it exists) holds models the shared
facts file has no row for: {"_comment": ..., "models": [ENTRY, ...]}. An ENTRY is a partial catalog config, keys
as in docs/model-config.md, written over one of two starting points:
  * "family": a model_type: its layout, with the shape keys every catalog file states at 0 (layers, hidden, vocab
    and whatever else the model needs come from the entry). The entry must give reference_params, the exact count
    worked out by hand from the architecture: the catalog test holds AnalyticParameterCount to it;
  * "base": the hf_id of a facts-file row: that row's config, so a variant is its base in every field the entry
    does not change. reference_params, published_params_m and the base's params_note are the base's unless the
    entry gives its own; id, aliases, category and notes are the entry's.
"""
import argparse
import csv
import json
import os
import re
import subprocess
import sys

REFERENCE_CATEGORY = "Long-context reference"


def family_layouts(client):
    """Each HF model_type's layout, from its one home in common/families/ (via `tscale-client families`): the
    structure HF's modelling class fixes, with HF's defaults where a config key may change it."""
    out = subprocess.run([client, "families", "--json"], check=True, capture_output=True, text=True).stdout
    return {model_type: family["layout"] for model_type, family in json.loads(out).items()}


# Output key order: the order of ModelConfigToJson, so a catalog file reads like the documented format.
FIELD_ORDER = """id aliases category family arch block attention_kind layers decoder_layers hidden heads kv_heads head_dim ffn vocab
embedding_size embedding_projection position position_rows position_offset max_input_tokens position_clamp
trained_context type_vocab rotary_dims rotary_base relative_buckets relative_max_distance relative_bias_projection
scale_embedding norm norm_eps norm_placement embedding_norm final_norm activation bias qkv_bias key_bias
attn_out_bias mlp_bias pooler tied_head head_bias parallel_residual shared_block_norm shared_layer_groups attention_window
window_layers global_tokens global_projections conv_groups relative_positions ngram ssm_state ssm_conv ssm_expand
ssm_dt_rank ssm_conv_bias dropout attention_dropout
approximation
published_params_m reference_params params_note notes""".split()


def ordered(config):
    unknown = set(config) - set(FIELD_ORDER)
    if unknown:
        raise ValueError(f"unknown config fields {sorted(unknown)}")
    return {k: config[k] for k in FIELD_ORDER if k in config}


def none_or_int(text):
    return 0 if text.strip() in ("", "none", "n/a") else int(text)


def eps_of(norm_type):
    m = re.search(r"eps=([0-9.eE+-]+)", norm_type)
    return float(m.group(1)) if m else 1e-5


def activation_of(text):
    if text.startswith("gelu_new") or "tanh" in text:
        return "gelu_tanh"
    if text.startswith("silu-gated"):
        return "silu_gated"
    if text.startswith("relu"):
        return "relu"
    if text.startswith("gelu"):
        return "gelu"
    raise ValueError(f"unknown activation {text!r}")


def rotary_dims_of(r, head_dim):
    """Rotated dims per head from the position_scheme text ('-> 16 of 64 head dims', 'rotary_dim=64')."""
    m = re.search(r"-> (\d+) of (\d+) head dims", r["position_scheme"]) or re.search(
        r"rotary_dim=(\d+)", r["position_scheme"])
    dims = int(m.group(1)) if m else 0
    return 0 if dims == head_dim else dims


def window_of(r):
    m = re.search(r"(?:window_size|sliding_window)=(\d+)", r["extra_config"])
    return int(m.group(1)) if m else 0


def category_of(r):
    return REFERENCE_CATEGORY if r["paper_category"].startswith("Reference") else r["paper_category"]


def shape_fields(r):
    d, heads = int(r["hidden_size"]), int(r["num_attention_heads"])
    kv, head_dim, e = int(r["num_key_value_heads"]), int(r["head_dim"]), int(r["embedding_size"])
    seq2seq = r["arch_kind"] == "encoder-decoder"
    return {
        "layers": int(r["enc_layers"]) if r["arch_kind"] != "decoder" else int(r["dec_layers"]),
        "decoder_layers": int(r["dec_layers"]) if seq2seq else 0,
        "hidden": d,
        "heads": heads,
        "kv_heads": kv if kv != heads else 0,
        "head_dim": head_dim if head_dim * heads != d else 0,
        "ffn": int(r["intermediate_size"]),
        "vocab": int(r["vocab_size"]),
        "embedding_size": e if e != d else 0,
    }


def position_fields(r, family):
    head_dim = int(r["head_dim"])
    f = {
        "position_rows": none_or_int(r["position_table_rows"]),
        "max_input_tokens": none_or_int(r["max_input_tokens"]),
        "trained_context": none_or_int(r["trained_context"]),
        "type_vocab": none_or_int(r["type_vocab_size"]),
    }
    if family["position"] == "rotary":
        f["rotary_dims"] = rotary_dims_of(r, head_dim)
        f["rotary_base"] = 10000.0
    if family["position"] == "relative_buckets" or family.get("relative_bias_projection"):
        m = re.search(r"(?:relative_attention_num_buckets|num_buckets)=(\d+)", r["extra_config"])
        f["relative_buckets"] = int(m.group(1))
        m = re.search(r"relative_(?:attention_)?max_distance=(\d+)", r["extra_config"])
        f["relative_max_distance"] = int(m.group(1))
    m = re.search(r"ngram=(\d+)", r["extra_config"])
    if m:
        f["ngram"] = int(m.group(1))
    return f


def build(r, layouts):
    family = layouts[r["model_type"]]
    c = {
        "id": r["hf_id"],
        "aliases": sorted({r["study_name"], r["hf_id"].split("/")[-1]} - {r["hf_id"], ""}),
        "category": category_of(r),
        "family": r["model_type"],
    }
    c.update(shape_fields(r))
    c.update({"norm": "rmsnorm" if "RMS" in r["norm_type"] else "layernorm", "norm_eps": eps_of(r["norm_type"]),
              "activation": activation_of(r["activation"]), "bias": True})
    c.update(family)
    c.update(position_fields(r, family))
    if r["model_type"] == "opt" and r["norm_placement"].startswith("post"):
        c.update(norm_placement="post", final_norm=False)  # OPT-350m: do_layer_norm_before=false
    window = window_of(r)
    if window:
        c["attention_window"] = window
    # A key HF defaults to false that the checkpoints set (Pegasus, Blenderbot), stated in the facts file.
    m = re.search(r"\bscale_embedding=(true|false)", r["extra_config"])
    if m:
        c["scale_embedding"] = m.group(1) == "true"
    c["published_params_m"] = float(r["published_params_m"]) if r["published_params_m"] else 0.0
    c["reference_params"] = int(r["computed_params"])
    if not r["published_params_m"]:
        c["params_note"] = ("Not in the study, so there is no published count; reference_params is the facts "
                            "file's exact count from the HF config.")
    c["notes"] = r["notes"]
    return c


# The keys every catalog file states even at 0 (what build() writes for a facts-file row), so an extra entry reads
# like the rest of the catalog.
STATED_SHAPE = ("layers decoder_layers hidden heads kv_heads head_dim ffn vocab embedding_size position_rows "
                "max_input_tokens trained_context type_vocab").split()


def build_extra(entry, layouts, rows_by_id):
    """One entry of the second source (see the module docstring) as a catalog config."""
    entry = dict(entry)
    where = entry.get("id", "an entry without an id")
    identity = {"id": entry.pop("id"), "aliases": sorted(entry.pop("aliases", [])), "category": entry.pop("category")}
    if "base" in entry:
        base = entry.pop("base")
        if base not in rows_by_id:
            sys.exit(f"{where}: base {base!r} is not a row of the facts file")
        c = build(rows_by_id[base], layouts)
        c.pop("params_note", None)
        c.update(identity)
    elif "family" in entry:
        if entry["family"] not in layouts:
            sys.exit(f"{where}: family {entry['family']!r} has no home in common/families/")
        if "reference_params" not in entry:
            sys.exit(f"{where}: an entry built from a family layout must give reference_params (its exact count)")
        c = dict(identity, family=entry["family"])
        c.update({k: 0 for k in STATED_SHAPE})
        c.update({"norm": "layernorm", "norm_eps": 1e-5, "bias": True})  # ModelArchitecture's defaults, stated
        c.update(layouts[entry["family"]])
    else:
        sys.exit(f"{where}: an extra entry needs a family or a base")
    for required in ("published_params_m", "notes"):
        if required not in entry:
            sys.exit(f"{where}: {required} is required")
    c.update(entry)
    return c


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", default="build/client/tscale-client", help="a built tscale-client")
    parser.add_argument("--extra", help="the second source (default: linear-time.json next to the CSV, if any)")
    parser.add_argument("csv_path")
    parser.add_argument("out_dir")
    args = parser.parse_args()
    csv_path, out_dir = args.csv_path, args.out_dir
    extra_path = args.extra or os.path.join(os.path.dirname(csv_path), "linear-time.json")
    layouts = family_layouts(args.client)
    os.makedirs(out_dir, exist_ok=True)
    rows = list(csv.DictReader(open(csv_path)))
    for r in rows:
        if r["model_type"] not in layouts:
            sys.exit(f"{r['hf_id']}: model_type {r['model_type']!r} has no family in common/families/")
    configs = [build(r, layouts) for r in rows]
    if args.extra or os.path.exists(extra_path):
        rows_by_id = {r["hf_id"]: r for r in rows}
        with open(extra_path) as f:
            configs += [build_extra(e, layouts, rows_by_id) for e in json.load(f)["models"]]
    names = {}
    for config in map(ordered, configs):
        for name in [config["id"]] + config["aliases"]:
            if name in names:
                sys.exit(f"name {name!r} of {config['id']} is already used by {names[name]}")
            names[name] = config["id"]
        with open(os.path.join(out_dir, config["id"].replace("/", "__") + ".json"), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
    print(f"wrote {len(configs)} model configs to {out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
