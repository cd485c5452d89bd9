"""Builds a tiny random-weight Llama that vLLM can serve on CPU, from nothing downloaded.

No model hub is reachable, so the real-vLLM tests make their own model: a byte-level BPE tokenizer
trained on local text, a chat template, and a 2-layer Llama (hidden 128, 4 heads: vLLM's CPU
attention needs head sizes of 32, 64, 80, ...) with random float32 weights. Its output is noise,
which is all the pipeline needs: real vLLM bodies, real token counts, real errors.

    python build_tiny_model.py OUT_DIR
"""
import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIALS = ["<unk>", "<s>", "</s>"]
# Enough to end any conversation the tests send: roles, turns, the generation prompt.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def corpus():
    words = "the a batch request model token server worker queue chunk result file line output error user assistant system".split()
    for i in range(2000):
        yield " ".join(words[(i * k) % len(words)] for k in range(1, 12)) + f" {i} <|user|> <|assistant|>"


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus(), trainers.BpeTrainer(vocab_size=1024, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        torch_dtype="float32",
    )
    LlamaForCausalLM(config).to(torch.float32).save_pretrained(out, safe_serialization=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
