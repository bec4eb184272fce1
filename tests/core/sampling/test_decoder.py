"""The sampling engine against plain ``generate``: greedy token for token, the same
distribution at temperature 1, the top-p nucleus exactly, finished rows leaving the batch
without disturbing the others, memory-based batch sizes and bfloat16 copies."""

import math

import pytest
import torch
from transformers.generation.logits_process import TopPLogitsWarper

import core.sampling.decoder
from core.sampling.generation import SamplingSettings, format_prompt, sample, stop_token_ids
from core.models.importing import load_model
from core.sampling.decoder import auto_batch_size, decode, model_in, nucleus_sample

PROMPTS = ["Hello there", "Write a very long and detailed answer about the history of tea, please.",
           "Why is the sky blue?", "Name a fruit.", "Count to ten slowly.", "What is a cat?"]


@pytest.fixture
def lm(store, tiny_model):
    return load_model(store, tiny_model, device="cpu")


@pytest.fixture
def peaked(lm):
    """The tiny model with its logits scaled up: a few likely tokens per step, as a trained
    model has, so that frequencies can be compared with a few thousand samples."""
    handle = lm.model.lm_head.register_forward_hook(lambda _m, _i, logits: logits * 6)
    yield lm
    handle.remove()


@pytest.fixture
def lively(lm):
    """The tiny model with larger random weights: its greedy answers differ from prompt to
    prompt (the default initialisation repeats one token) and no two tokens tie."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in lm.model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.3)
    return lm


def chi_square_p(statistic: float, df: int) -> float:
    """Upper tail of the chi-square distribution (Wilson-Hilferty approximation)."""
    if df <= 0:
        return 1.0
    z = ((statistic / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))
    return 0.5 * math.erfc(z / math.sqrt(2))


def two_sample_p(a: torch.Tensor, b: torch.Tensor, min_count: int = 10) -> float:
    """Chi-square test that two equally large samples of token ids share one distribution;
    tokens seen fewer than ``min_count`` times in all are pooled into one bin."""
    size = int(max(a.max(), b.max())) + 1
    ca, cb = torch.bincount(a, minlength=size).double(), torch.bincount(b, minlength=size).double()
    big = (ca + cb) >= min_count
    ca = torch.cat([ca[big], ca[~big].sum()[None]])
    cb = torch.cat([cb[big], cb[~big].sum()[None]])
    used = (ca + cb) > 0
    ca, cb = ca[used], cb[used]
    return chi_square_p(float(((ca - cb) ** 2 / (ca + cb)).sum()), int(used.sum()) - 1)


def test_nucleus_sample_keeps_exactly_the_top_p_warpers_tokens_with_their_probabilities():
    torch.manual_seed(0)
    vocab, draws, top_p = 3000, 8000, 0.9
    rows = {"flat": torch.randn(vocab) * 0.05, "spread": torch.randn(vocab) * 2.0, "peaked": torch.randn(vocab) * 8.0}
    warper = TopPLogitsWarper(top_p)
    widths = set()
    for name, logits in rows.items():
        masked = warper(None, logits[None].clone())[0]
        expected = torch.softmax(masked, -1)
        kept = torch.isfinite(masked)
        mass = torch.softmax(logits, -1).sort(descending=True).values.cumsum(-1)
        widths.add(next(k for k in core.sampling.decoder.PRE_CUTS if k >= vocab or mass[k - 1] >= top_p))
        got = nucleus_sample(logits.repeat(draws, 1), 1.0, top_p)
        assert kept[got].all(), f"{name}: a token outside the nucleus was drawn"
        counts = torch.bincount(got, minlength=vocab).double()
        order = expected.argsort(descending=True)
        bins_obs, bins_exp, acc_o, acc_e = [], [], 0.0, 0.0
        for t in order[kept[order]].tolist():  # consecutive tokens pooled to >= 20 expected
            acc_o, acc_e = acc_o + float(counts[t]), acc_e + float(expected[t]) * draws
            if acc_e >= 20:
                bins_obs.append(acc_o)
                bins_exp.append(acc_e)
                acc_o = acc_e = 0.0
        if acc_e:
            bins_obs[-1] += acc_o
            bins_exp[-1] += acc_e
        statistic = sum((o - e) ** 2 / e for o, e in zip(bins_obs, bins_exp))
        assert chi_square_p(statistic, len(bins_obs) - 1) > 1e-3, name
    assert widths == {64, 2048, 1 << 62}  # every width of the cut, the full sort included, was exercised


def test_temperature_zero_is_greedy():
    logits = torch.randn(5, 100)
    assert torch.equal(nucleus_sample(logits, 0.0, 0.9), logits.argmax(-1))


def test_greedy_equals_generate_token_for_token(lively):
    lm = lively
    settings = SamplingSettings(max_new_tokens=16, temperature=0.0, precision="float32", batch_size=8)
    ours = sample(lm, PROMPTS[:4], 2, settings)
    texts = [format_prompt(lm.tokenizer, p) for p in PROMPTS[:4] for _ in range(2)]
    enc = lm.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    stops = stop_token_ids(lm)
    with torch.inference_mode():
        out = lm.model.generate(**enc, do_sample=False, max_new_tokens=16, eos_token_id=stops,
                                pad_token_id=lm.tokenizer.pad_token_id)
    rows = out[:, enc["input_ids"].shape[1]:].tolist()
    assert len({tuple(r) for r in rows}) == 4  # four different answers, compared token by token
    for completion, row in zip(ours, rows):
        cut = next((j for j, t in enumerate(row) if t in stops), len(row))
        assert completion.new_tokens == cut
        assert completion.text == lm.tokenizer.decode(row[:cut], skip_special_tokens=True).strip()


def test_sampled_tokens_follow_the_distribution_of_generate(peaked):
    lm = peaked
    draws, stops = 3000, stop_token_ids(lm)
    prompt = lm.tokenizer(format_prompt(lm.tokenizer, PROMPTS[2]), add_special_tokens=False)["input_ids"]
    torch.manual_seed(1)
    with torch.inference_mode():
        ours = decode(lm.model, [prompt], [draws], pad_id=lm.tokenizer.pad_token_id, stop_ids=[-1],
                      max_new_tokens=2, temperature=1.0, top_p=0.9)
        theirs = lm.model.generate(torch.tensor([prompt] * draws), attention_mask=torch.ones(draws, len(prompt)),
                                   do_sample=True, temperature=1.0, top_p=0.9, top_k=0, max_new_tokens=2,
                                   min_new_tokens=2, pad_token_id=lm.tokenizer.pad_token_id)[:, len(prompt):]
    ours = torch.tensor([d.tokens for d in ours])
    assert ours.shape == theirs.shape == (draws, 2)
    assert len(set(ours[:, 0].tolist())) > 5  # a distribution, not one token
    for step in range(2):
        assert two_sample_p(ours[:, step], theirs[:, step]) > 1e-3, f"token {step + 1} differs"
    pairs = lambda t: t[:, 0] * 1024 + t[:, 1]  # noqa: E731 - the joint distribution of both tokens
    assert two_sample_p(pairs(ours), pairs(theirs)) > 1e-3
    assert stops  # the model has stop tokens; this test switched them off to compare whole rows


def test_finished_rows_leave_the_batch_without_disturbing_the_others(lively, monkeypatch):
    lm = lively
    prompts = [lm.tokenizer(format_prompt(lm.tokenizer, p), add_special_tokens=False)["input_ids"] for p in PROMPTS]
    common = dict(pad_id=lm.tokenizer.pad_token_id, max_new_tokens=12, temperature=0.0, top_p=1.0)
    with torch.inference_mode():
        free = [d.tokens for d in decode(lm.model, prompts, [1] * len(prompts), stop_ids=[-1], **common)]
        # A stop token that ends some rows early and others late or never.
        firsts = {t: [row.index(t) if t in row else None for row in free] for row in free for t in row}
        stop = next(t for t, at in firsts.items() if any(a is not None and a < 6 for a in at)
                    and any(a is None or a >= 9 for a in at))
        monkeypatch.setattr(core.sampling.decoder, "COMPACT_SHARE", 1e-9)  # drop each row the moment it ends
        stats = {}
        compacted = decode(lm.model, prompts, [1] * len(prompts), stop_ids=[stop], stats=stats, **common)
        alone = [decode(lm.model, [p], [1], stop_ids=[stop], **common)[0] for p in prompts]
    for row, got, single in zip(free, compacted, alone):
        cut = row.index(stop) if stop in row else len(row)
        assert got.tokens == row[:cut] == single.tokens  # the stop token itself is not kept
        assert got.finished == (stop in row)
        assert len(got.tokens) <= 12
    assert stats["forward_passes"] <= 12


def test_batch_size_follows_free_memory(lm, monkeypatch):
    monkeypatch.setattr(core.sampling.decoder, "available_memory", lambda device: 10 * 2**30)
    roomy = auto_batch_size(lm.model, torch.float32, 600)
    monkeypatch.setattr(core.sampling.decoder, "available_memory", lambda device: 2 * 2**20)
    tight = auto_batch_size(lm.model, torch.float32, 600)
    monkeypatch.setattr(core.sampling.decoder, "available_memory", lambda device: 0)
    assert roomy == core.sampling.decoder.CPU_BATCH_CAP and 1 < tight < roomy
    assert auto_batch_size(lm.model, torch.float32, 600) == 1


def test_a_bfloat16_copy_merges_the_adapter_and_leaves_the_policy_alone(lm):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    policy = get_peft_model(lm.model, LoraConfig(r=2, lora_alpha=8, task_type="CAUSAL_LM"))
    for name, p in policy.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)  # a trained adapter: it changes the outputs
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.inference_mode(), model_in(policy, torch.bfloat16) as twin:
        assert twin is not policy and {p.dtype for p in twin.parameters()} == {torch.bfloat16}
        assert not any("lora" in n for n, _ in twin.named_parameters())
        merged = twin(input_ids=ids).logits.float()
        exact = policy(input_ids=ids).logits
        with policy.disable_adapter():
            base = policy(input_ids=ids).logits
    assert (merged - exact).abs().max() < 0.1 * (exact - base).abs().max()  # the adapter is in the copy
    assert all(torch.equal(before[k], v) for k, v in policy.state_dict().items())
    with model_in(policy, torch.float32) as same:
        assert same is policy


def test_sampling_in_bfloat16_reports_what_it_did(lm):
    stats = {}
    out = sample(lm, PROMPTS[:2], 3, SamplingSettings(max_new_tokens=5, seed=0, precision="bfloat16"), stats=stats)
    assert len(out) == 6 and stats["dtype"] == "bfloat16" and stats["batch_size"] >= 6
    assert stats["tokens"] == sum(c.new_tokens for c in out) and stats["seconds"] > 0
    assert next(lm.model.parameters()).dtype == torch.float32  # the loaded model is untouched


def test_auto_precision_is_measured_for_the_model_and_said(lm, store, monkeypatch):
    """auto samples in the dtype the probe measured faster for this model (cached in its
    workspace) and says so; a model too small to measure keeps its own dtype."""
    import core.models.precision as precision

    monkeypatch.delenv("SUPERHF_DTYPE", raising=False)
    monkeypatch.setattr(precision, "_memo", {})
    stats = {}
    sample(lm, PROMPTS[:1], 2, SamplingSettings(max_new_tokens=3, seed=0), stats=stats)
    assert stats["dtype"] == "float32" and "too small" in stats["precision_reason"]
    calls = []
    monkeypatch.setattr(precision, "SMALL_MODEL", 0)
    monkeypatch.setattr(precision, "_measure", lambda *a: calls.append(a[0]) or {"float32": 2.0, "bfloat16": 1.0})
    for _ in range(2):
        stats = {}
        sample(lm, PROMPTS[:1], 2, SamplingSettings(max_new_tokens=3, seed=0), stats=stats)
        assert stats["dtype"] == "bfloat16" and stats["precision_reason"] == "measured: bfloat16 2.0x faster here"
    assert calls == ["sampling"] and (store.workspace.cache_dir / precision.CACHE_FILE).is_file()
    stats = {}
    sample(lm, PROMPTS[:1], 2, SamplingSettings(max_new_tokens=3, seed=0, precision="float32"), stats=stats)
    assert stats["dtype"] == "float32" and stats["precision_reason"] == "asked for float32"
