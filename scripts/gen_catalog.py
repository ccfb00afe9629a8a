#!/usr/bin/env python3
"""Generates the model catalog (models/*.json) from the architecture facts file.

Usage: scripts/gen_catalog.py [--client build/client/tscale-client] models/source/model-architectures.csv models/

Every row of the facts file (a copy of shared/reference/model-architectures.csv, kept with its output) becomes
one tscale JSON config (format: docs/model-config.md). Shapes, position limits and counts come from the CSV
columns; what a family adds on top (norm placement, biases, sharing, windows, ...) is its layout in
common/families/, read through `tscale-client families --json`, so this script holds no family knowledge. The
output is committed: the build never runs this script, and the test catalog_is_generated_from_family_homes
checks that the committed files are what it writes.
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
FIELD_ORDER = """id aliases category family arch layers decoder_layers hidden heads kv_heads head_dim ffn vocab
embedding_size embedding_projection position position_rows position_offset max_input_tokens position_clamp
trained_context type_vocab rotary_dims rotary_base relative_buckets relative_max_distance relative_bias_projection
scale_embedding norm norm_eps norm_placement embedding_norm final_norm activation bias qkv_bias key_bias
attn_out_bias mlp_bias pooler tied_head head_bias parallel_residual shared_block_norm shared_layer_groups attention_window
window_layers global_tokens global_projections conv_groups relative_positions ngram dropout attention_dropout
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", default="build/client/tscale-client", help="a built tscale-client")
    parser.add_argument("csv_path")
    parser.add_argument("out_dir")
    args = parser.parse_args()
    csv_path, out_dir = args.csv_path, args.out_dir
    layouts = family_layouts(args.client)
    os.makedirs(out_dir, exist_ok=True)
    names = {}
    rows = list(csv.DictReader(open(csv_path)))
    for r in rows:
        if r["model_type"] not in layouts:
            sys.exit(f"{r['hf_id']}: model_type {r['model_type']!r} has no family in common/families/")
        config = ordered(build(r, layouts))
        for name in [config["id"]] + config["aliases"]:
            if name in names:
                sys.exit(f"name {name!r} of {config['id']} is already used by {names[name]}")
            names[name] = config["id"]
        with open(os.path.join(out_dir, r["hf_id"].replace("/", "__") + ".json"), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
    print(f"wrote {len(rows)} model configs to {out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
