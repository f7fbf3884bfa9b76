"""HuggingFace BERT / GPT-2 / OPT models as costmodel records, for NeuSight's end-to-end rows.

The records are what a user builds with the public constructors: a ``TransformerEncoder`` of
``TransformerEncoderLayer`` (d_model, heads, FFN width, activation, norm position, causal mask,
dropout 0.1, ``attention="math"``: the models ran with ``attn_implementation="eager"``), the
embeddings (``Embedding`` gathers, their sum, BERT's LayerNorm) and the heads (the LM head
``Linear(d, vocab)``, BERT's pooler / classifier / MLM / NSP heads), each priced by the same
``costmodel.roofline.predict`` that ``costmodel.predict`` and ``compare`` use.

HuggingFace's eager code runs kernels that ``torch.nn``'s layer does not (:func:`hf_extras`):
two more passes over the b x h x n x n scores per layer (GPT-2: ``attn / sqrt(d)`` and the
causal ``torch.where``; BERT: the division and the attention-mask add; OPT: the causal-mask add
and ``torch.max(scores, finfo.min)``), and GPT-2's ``gelu_new`` written as eight pointwise ops
(``0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x ** 3)))``) where ``nn.GELU`` is one.
They are composed from the same pointwise primitive and reported separately (with / without).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import costmodel as cm
from costmodel import symbols as S
from costmodel.compose import combine, scale
from costmodel.models.layers import with_backward_kernel
from costmodel.models.primitives import pointwise_part, tokens_of

DROPOUT = 0.1  # every config's hidden / residual dropout (attention dropout: OPT's is 0.0)
NSP_CLASSES = 2  # BERT's next-sentence head and the sequence classifier: 2 labels
#: HF eager passes over the scores beyond torch.nn's math attention (see the module docstring)
SCORE_PASSES = 2
#: gelu_new's eight ops (mul, pow, mul, add, mul, tanh, add, mul) read 10 tensors of [t, ff]
#: and write 8; nn.GELU('tanh') is one op reading 1 and writing 1: 7 more launches, of which
#: two read two tensors (the adds/muls of x with a term)
GELU_NEW_EXTRA_ONE_INPUT = 5
GELU_NEW_EXTRA_TWO_INPUTS = 2


@dataclass(frozen=True)
class Spec:
    """What the record needs from a HuggingFace config."""

    family: str  # bert, gpt2, opt
    d_model: int
    heads: int
    ffn: int
    layers: int
    vocab: int
    activation: str  # relu or gelu
    norm_first: bool
    causal: bool
    positions: int  # learned position embeddings
    type_vocab: int = 0  # BERT's token-type embeddings (0: none)


def spec_of(config: dict) -> Spec:
    """A :class:`Spec` from a ``transformers`` config dict (BertLMHeadModel, GPT2LMHeadModel,
    OPTForCausalLM); ValueError naming the architecture otherwise."""
    arch = config.get("architectures", ["?"])[0]
    if arch.startswith("Bert"):
        return Spec("bert", config["hidden_size"], config["num_attention_heads"],
                    config["intermediate_size"], config["num_hidden_layers"],
                    config["vocab_size"], "gelu", False, False,
                    config["max_position_embeddings"], config["type_vocab_size"])
    if arch.startswith("GPT2"):
        d = config["n_embd"]
        return Spec("gpt2", d, config["n_head"], config.get("n_inner") or 4 * d,
                    config["n_layer"], config["vocab_size"], "gelu", True, True,
                    config["n_positions"])
    if arch.startswith("OPT"):
        return Spec("opt", config["hidden_size"], config["num_attention_heads"],
                    config["ffn_dim"], config["num_hidden_layers"], config["vocab_size"],
                    config["activation_function"], config["do_layer_norm_before"], True,
                    config["max_position_embeddings"])
    raise ValueError(f"architectures={arch!r} is not one of: BertLMHeadModel, "
                     f"GPT2LMHeadModel, OPTForCausalLM")


@lru_cache(maxsize=None)
def stack(spec: Spec):
    """The layers (and GPT-2's / OPT's final LayerNorm) as ``TransformerEncoder``."""
    layer = cm.TransformerEncoderLayer(
        spec.d_model, spec.heads, spec.ffn, dropout=DROPOUT, activation=spec.activation,
        norm_first=spec.norm_first, batch_first=True, attention="math", causal=spec.causal)
    final = cm.LayerNorm(spec.d_model) if spec.norm_first else None
    return cm.TransformerEncoder(layer, spec.layers, norm=final)


def _sum(name: str, d: int, inputs: int = 2):
    return with_backward_kernel(pointwise_part(name, tokens_of() * d, 1, 0, inputs=inputs))


@lru_cache(maxsize=None)
def outside(spec: Spec, training: bool):
    """Embeddings and heads over all ``n`` tokens: one record (no layer config to resolve)."""
    d = spec.d_model
    parts = [cm.Embedding(spec.vocab, d), cm.Embedding(spec.positions, d),  # tokens, positions
             _sum("embeddings.add", d)]
    if spec.type_vocab:
        parts += [cm.Embedding(spec.type_vocab, d), _sum("embeddings.add_type", d)]
    if spec.family == "bert":
        parts.append(cm.LayerNorm(d))
    if training:
        parts.append(cm.Dropout(DROPOUT, features=d))
    if spec.family != "bert":
        parts.append(cm.Linear(d, spec.vocab, bias=False, input_requires_grad=True))
    elif training:  # BertForPreTraining's MLM head over every token
        parts += [cm.Linear(d, d, input_requires_grad=True), cm.GELU(features=d),
                  cm.LayerNorm(d), cm.Linear(d, spec.vocab, input_requires_grad=True)]
    return combine(f"{spec.family} embeddings and head", parts)


@lru_cache(maxsize=None)
def pooled(spec: Spec):
    """BERT's heads on the first token of each sequence (evaluate at n = 1): the pooler
    Linear + tanh, then a 2-way Linear (the classifier in inference, the next-sentence head
    in training: the same shapes); None for the other families."""
    if spec.family != "bert":
        return None
    d = spec.d_model
    return combine("bert pooler and classifier", [
        cm.Linear(d, d, input_requires_grad=True), cm.Tanh(features=d),
        cm.Linear(d, NSP_CLASSES, input_requires_grad=True)])


@lru_cache(maxsize=None)
def hf_extras(spec: Spec):
    """The kernels HuggingFace's eager layers run beyond ``torch.nn``'s, for all layers."""
    scores = tokens_of() * spec.heads * S.n  # [b, h, n, n]
    parts = [with_backward_kernel(pointwise_part(f"scores.pass{i}", scores, 1, 1))
             for i in range(SCORE_PASSES)]
    if spec.family == "gpt2":
        t_ff = tokens_of() * spec.ffn
        parts += [with_backward_kernel(pointwise_part(f"gelu_new.op{i}", t_ff, 1, 1))
                  for i in range(GELU_NEW_EXTRA_ONE_INPUT)]
        parts += [with_backward_kernel(pointwise_part(f"gelu_new.binary{i}", t_ff, 1, 1,
                                                      inputs=2))
                  for i in range(GELU_NEW_EXTRA_TWO_INPUTS)]
    return scale(combine("huggingface eager extras", parts), spec.layers)
