#!/usr/bin/env python3
"""Generates the model catalog (models/*.json) from the architecture facts file.

Usage: scripts/gen_catalog.py ../shared/reference/model-architectures.csv models/

Only families whose architecture the runner builds are emitted; the rest are listed on stderr. The
output is committed: the build never runs this script, and a reviewer can diff what changed.
"""
import csv
import json
import os
import re
import sys


def eps_of(norm_type):
    m = re.search(r"eps=([0-9.eE+-]+)", norm_type)
    return float(m.group(1)) if m else 1e-5


def common_fields(r):
    return {
        "id": r["hf_id"],
        "aliases": sorted({r["study_name"], r["hf_id"].split("/")[-1]} - {r["hf_id"]}),
        "category": r["paper_category"],
        "family": r["model_type"],
        "hidden": int(r["hidden_size"]),
        "heads": int(r["num_attention_heads"]),
        "ffn": int(r["intermediate_size"]),
        "vocab": int(r["vocab_size"]),
        "position": "learned",
        "position_rows": int(r["position_table_rows"]),
        "max_input_tokens": int(r["max_input_tokens"]),
        "norm": "layernorm",
        "norm_eps": eps_of(r["norm_type"]),
        "bias": True,
        "published_params_m": float(r["published_params_m"]),
        "reference_params": int(r["computed_params"]),
    }


def encoder(r, type_vocab, pooler, offset):
    c = common_fields(r)
    c.update({
        "arch": "encoder",
        "layers": int(r["enc_layers"]),
        "position_offset": offset,
        "type_vocab": type_vocab,
        "norm_placement": "post",
        "embedding_norm": True,
        "final_norm": False,
        "activation": "gelu",
        "pooler": pooler,
    })
    return c


def gpt2(r):
    c = common_fields(r)
    c.update({
        "arch": "decoder",
        "layers": int(r["dec_layers"]),
        "position_offset": 0,
        "type_vocab": 0,
        "norm_placement": "pre",
        "embedding_norm": False,
        "final_norm": True,
        "activation": "gelu_tanh" if r["activation"] == "gelu_new" else "gelu",
        "pooler": False,
    })
    return c


BUILDERS = {
    "bert": lambda r: encoder(r, int(r["type_vocab_size"]), True, 0),
    "roberta": lambda r: encoder(r, int(r["type_vocab_size"]), True, 2),
    "xlm-roberta": lambda r: encoder(r, int(r["type_vocab_size"]), True, 2),
    "distilbert": lambda r: encoder(r, 0, False, 0),
    "gpt2": gpt2,
}


def main(csv_path, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    skipped = []
    for r in csv.DictReader(open(csv_path)):
        build = BUILDERS.get(r["model_type"])
        if build is None:
            skipped.append(f'{r["hf_id"]} ({r["model_type"]})')
            continue
        config = build(r)
        name = r["hf_id"].replace("/", "__") + ".json"
        with open(os.path.join(out_dir, name), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
    print(f"not yet buildable, skipped: {len(skipped)}", file=sys.stderr)
    for s in skipped:
        print("  " + s, file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
