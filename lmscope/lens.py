"""The logit lens (METHODS B5): read every layer of a VLM's language model through its own unembedding.

    logits_l = lm_head(final_norm(h_l))      h_l = hidden_states[l], the output of block l (0: the embeddings)

transformers returns `hidden_states[-1]` after the final norm already, so the last layer is unembedded as it is —
normalising it twice is the classic logit-lens bug. Positions are split into image tokens (LLaVA's image token;
InstructBLIP's query tokens, which take the image token's id in the input) and text tokens.
"""

from __future__ import annotations

import torch

FINAL_NORMS = ("norm", "final_layer_norm", "ln_f")


def language_model(model: torch.nn.Module) -> torch.nn.Module:
    """The decoder stack whose blocks produce hidden_states: a VLM's language model, else the base model."""
    base = model.base_model
    inner = getattr(base, "language_model", base)
    return getattr(inner, "model", inner)


def final_norm(model: torch.nn.Module) -> torch.nn.Module:
    lm = language_model(model)
    for owner in (lm, getattr(lm, "decoder", None)):
        for name in FINAL_NORMS:
            module = getattr(owner, name, None) if owner is not None else None
            if isinstance(module, torch.nn.Module):
                return module
    raise ValueError(f"no final norm ({', '.join(FINAL_NORMS)}) found on {type(lm).__name__}")


def lm_hidden_states(output) -> tuple[torch.Tensor, ...]:
    """The language model's hidden states from a forward pass with output_hidden_states=True (InstructBLIP keeps
    them in language_model_outputs; reading `hidden_states` there is what crashes the reference code)."""
    states = getattr(output, "hidden_states", None)
    return states if states is not None else output.language_model_outputs.hidden_states


@torch.no_grad()
def layer_logits(model: torch.nn.Module, hidden_states: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """[layers + 1, batch, positions, vocab]: every hidden state unembedded; the last one is already normed."""
    norm, head = final_norm(model), model.get_output_embeddings()
    out = [head(norm(h)) for h in hidden_states[:-1]]
    out.append(head(hidden_states[-1]))
    return torch.stack(out).float()


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the next-token distribution at every position."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def top_tokens(logits: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities, token ids) of the k most likely next tokens at every position."""
    return torch.softmax(logits.float(), dim=-1).topk(k, dim=-1)
