#!/usr/bin/env python3
"""Generates the model catalog (models/*.json) from the architecture facts file.

Usage: scripts/gen_catalog.py ../shared/reference/model-architectures.csv models/

Every row of the facts file becomes one tscale JSON config (format: docs/model-config.md). Shapes, position
limits and counts come from the CSV columns; what a family adds on top (norm placement, biases, sharing,
windows, ...) is the FAMILIES table below, one entry per HF model_type. The output is committed: the build
never runs this script, and a reviewer can diff what changed.
"""
import csv
import json
import os
import re
import sys

REFERENCE_CATEGORY = "Long-context reference"

# The structural facts each HF model_type adds to the CSV's shapes (see model-architectures.md, "Parameter
# formulas per family"). Keys are tscale config fields.
ENCODER = {"arch": "encoder", "norm_placement": "post", "embedding_norm": True, "pooler": True}
DECODER = {"arch": "decoder", "norm_placement": "pre", "final_norm": True}
SEQ2SEQ = {"arch": "encoder-decoder"}

FAMILIES = {
    "gpt2": dict(DECODER, position="learned"),
    "gpt_neo": dict(DECODER, position="learned", qkv_bias=False, window_layers="odd"),
    "gptj": dict(DECODER, position="rotary", parallel_residual=True, shared_block_norm=True,
                 qkv_bias=False, attn_out_bias=False),
    "gpt_neox": dict(DECODER, position="rotary", parallel_residual=True),
    "opt": dict(DECODER, position="learned", position_offset=2, embedding_projection="in_out"),
    "bloom": dict(DECODER, position="alibi", embedding_norm=True),
    "llama": dict(DECODER, position="rotary", norm="rmsnorm", bias=False),
    "mistral": dict(DECODER, position="rotary", norm="rmsnorm", bias=False),
    "phi": dict(DECODER, position="rotary", parallel_residual=True, shared_block_norm=True),
    # Falcon: bias=false in its config removes the Linear biases; its LayerNorms keep theirs.
    "falcon": dict(DECODER, position="rotary", parallel_residual=True, shared_block_norm=True,
                   qkv_bias=False, attn_out_bias=False, mlp_bias=False),
    "bert": dict(ENCODER, position="learned"),
    "roberta": dict(ENCODER, position="learned", position_offset=2),
    "xlm-roberta": dict(ENCODER, position="learned", position_offset=2),
    "distilbert": dict(ENCODER, position="learned", pooler=False),
    "albert": dict(ENCODER, position="learned", shared_layer_groups=1),
    "electra": dict(ENCODER, position="learned", pooler=False),
    "squeezebert": dict(ENCODER, position="learned", conv_groups=4),
    "deberta": dict(ENCODER, position="none", relative_positions=512, key_bias=False, pooler=False),
    "longformer": dict(ENCODER, position="learned", position_offset=2, attention_window=512, global_tokens=1,
                       global_projections=True),
    "big_bird": dict(ENCODER, position="learned", attention_window=384, global_tokens=128),
    "bart": dict(SEQ2SEQ, position="learned", position_offset=2, norm_placement="post", embedding_norm=True),
    "pegasus": dict(SEQ2SEQ, position="sinusoidal", norm_placement="pre", final_norm=True, scale_embedding=True),
    "blenderbot": dict(SEQ2SEQ, position="learned", norm_placement="pre", final_norm=True, scale_embedding=True),
    "prophetnet": dict(SEQ2SEQ, position="learned", position_offset=1, position_clamp=True, norm_placement="post",
                       embedding_norm=True, relative_bias_projection=True),
    "t5": dict(SEQ2SEQ, position="relative_buckets", norm="rmsnorm", norm_placement="pre", final_norm=True,
               bias=False),
}

# What tscale approximates for a family is stated in that family's home (common/families/NAME.cc) and filled in
# when a catalog file is read, so no text is written (or copied) here.


# Output key order: the order of ModelConfigToJson, so a catalog file reads like the documented format.
FIELD_ORDER = """id aliases category family arch layers decoder_layers hidden heads kv_heads head_dim ffn vocab
embedding_size embedding_projection position position_rows position_offset max_input_tokens position_clamp
trained_context type_vocab rotary_dims rotary_base relative_buckets relative_max_distance relative_bias_projection
scale_embedding norm norm_eps norm_placement embedding_norm final_norm activation bias qkv_bias key_bias
attn_out_bias mlp_bias pooler parallel_residual shared_block_norm shared_layer_groups attention_window
window_layers global_tokens global_projections conv_groups relative_positions ngram approximation
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


def build(r):
    family = FAMILIES[r["model_type"]]
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
    c["published_params_m"] = float(r["published_params_m"]) if r["published_params_m"] else 0.0
    c["reference_params"] = int(r["computed_params"])
    if not r["published_params_m"]:
        c["params_note"] = ("Not in the study, so there is no published count; reference_params is the facts "
                            "file's exact count from the HF config.")
    c["notes"] = r["notes"]
    return c


def main(csv_path, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    names = {}
    rows = list(csv.DictReader(open(csv_path)))
    for r in rows:
        config = ordered(build(r))
        for name in [config["id"]] + config["aliases"]:
            if name in names:
                sys.exit(f"name {name!r} of {config['id']} is already used by {names[name]}")
            names[name] = config["id"]
        with open(os.path.join(out_dir, r["hf_id"].replace("/", "__") + ".json"), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
    print(f"wrote {len(rows)} model configs to {out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
