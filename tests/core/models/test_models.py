"""Importing and loading models: safetensors folders, GGUF files, and every refusal."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from core.models.devices import choose_device, choose_dtype
from core.errors import InputError, ModelError, NotFoundError
from core.models.importing import import_model, load_model
from core.store.models import list_models
from tiny_gguf import make_corrupt_gguf, make_tiny_gguf


def unchanged(store, before):
    assert store.count("models") == before
    assert list(store.workspace.models_dir.iterdir()) == []
    assert list(store.workspace.tmp_dir.iterdir()) == []


def test_import_a_folder_and_load_it(store, tiny_model_dir):
    row = import_model(store, tiny_model_dir, name="tiny")
    assert row["kind"] == "folder" and row["path"] == str(tiny_model_dir)
    assert row["architecture"] == "LlamaForCausalLM"
    assert 10_000 < row["parameters"] < 1_000_000
    assert [m["name"] for m in list_models(store)] == ["tiny"]
    lm = load_model(store, "tiny", device="cpu")
    assert lm.tokenizer.padding_side == "left" and lm.tokenizer.pad_token is not None
    assert not lm.model.training


def test_import_with_copy_survives_the_original_being_deleted(store, tiny_model_dir, tmp_path):
    original = tmp_path / "original"
    shutil.copytree(tiny_model_dir, original)
    row = import_model(store, original, name="copied", copy=True)
    shutil.rmtree(original)
    assert row["path"].startswith(str(store.workspace.models_dir))
    assert load_model(store, "copied").model is not None


def test_a_second_model_with_the_same_name_is_refused(store, tiny_model_dir):
    import_model(store, tiny_model_dir, name="tiny")
    with pytest.raises(InputError, match="exists already"):
        import_model(store, tiny_model_dir, name="tiny")
    assert store.count("models") == 1


def test_a_missing_path_is_refused(store, tmp_path):
    with pytest.raises(NotFoundError, match="No such file or folder"):
        import_model(store, tmp_path / "nowhere")
    unchanged(store, 0)


def test_pickle_only_weights_are_refused_with_how_to_convert(store, tiny_model_dir, tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    shutil.copy(tiny_model_dir / "config.json", folder)
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(InputError) as e:
        import_model(store, folder)
    message = str(e.value)
    assert "pickle" in message and "safetensors" in message and "pytorch_model.bin" in message
    unchanged(store, 0)


def test_a_folder_that_is_no_model_is_refused(store, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("hello")
    with pytest.raises(InputError, match="no config.json"):
        import_model(store, tmp_path / "docs")
    unchanged(store, 0)


def test_custom_code_architectures_are_refused(store, tiny_model_dir, tmp_path):
    folder = tmp_path / "custom"
    shutil.copytree(tiny_model_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="my_secret_arch", auto_map={"AutoModelForCausalLM": "modeling.MyModel"})
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="never custom code"):
        import_model(store, folder)
    unchanged(store, 0)


def test_a_model_that_does_not_generate_text_is_refused(store, tiny_model_dir, tmp_path):
    folder = tmp_path / "vision"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "resnet"}))
    with pytest.raises(InputError, match="not a text-generation"):
        import_model(store, folder)


def test_a_gguf_file_is_dequantised_once_into_the_workspace(store, tmp_path):
    gguf = make_tiny_gguf(tmp_path / "tiny.gguf", vocab_size=1024)
    row = import_model(store, gguf)
    assert row["name"] == "tiny" and row["kind"] == "gguf"
    folder = store.workspace.models_dir / "tiny"
    assert row["path"] == str(folder)
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    assert list(store.workspace.tmp_dir.iterdir()) == []  # no scratch left behind
    lm = load_model(store, "tiny")
    assert lm.tokenizer.chat_template  # the GGUF's chat template came along


def test_a_gguf_keeps_the_dtype_its_matrices_need(store, tmp_path):
    from safetensors import safe_open

    from core.models.gguf_import import weights_dtype

    gguf = make_tiny_gguf(tmp_path / "tiny.gguf", vocab_size=1024)  # float16 matrices, float32 norms
    folder = Path(import_model(store, gguf)["path"])
    assert json.loads((folder / "config.json").read_text())["dtype"] == "float16"
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        assert f.get_tensor("model.layers.0.self_attn.q_proj.weight").dtype == torch.float16
    # quantised files become bfloat16: their values need no more, and a 7B Q4 stays near 14 GB, not 28
    assert weights_dtype({"Q4_1", "Q8_0"}) == weights_dtype({"Q4_K", "F16"}) == "bfloat16"
    assert weights_dtype({"BF16"}) == "bfloat16" and weights_dtype({"F16", "F32"}) == "float32"


def test_a_gguf_import_without_disk_room_is_refused_before_writing(store, tmp_path, monkeypatch):
    import core.store.atomic as atomic

    gguf = make_tiny_gguf(tmp_path / "tiny.gguf", vocab_size=1024)
    monkeypatch.setattr(atomic, "free_bytes", lambda folder: 10 * 2**20)
    with pytest.raises(InputError, match="Not enough free disk space for importing tiny.gguf .*Free some space"):
        import_model(store, gguf)
    unchanged(store, 0)
    assert list(store.workspace.tmp_dir.iterdir()) == []


def test_a_truncated_gguf_is_refused_and_leaves_nothing(store, tmp_path):
    bad = make_corrupt_gguf(tmp_path / "broken.gguf")
    with pytest.raises(ModelError, match="damaged or incomplete"):
        import_model(store, bad)
    unchanged(store, 0)


def test_a_file_that_only_claims_to_be_gguf_is_refused(store, tmp_path):
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"PK\x03\x04 not gguf at all")
    with pytest.raises(InputError, match="not a GGUF file"):
        import_model(store, fake)
    unchanged(store, 0)


def test_other_files_are_refused(store, tmp_path):
    other = tmp_path / "weights.bin"
    other.write_bytes(b"\x00" * 10)
    with pytest.raises(InputError, match="neither a model folder nor a .gguf"):
        import_model(store, other)


def test_a_model_whose_files_are_gone_says_so(store, tiny_model_dir, tmp_path):
    folder = tmp_path / "moved"
    shutil.copytree(tiny_model_dir, folder)
    import_model(store, folder, name="moved")
    shutil.rmtree(folder)
    with pytest.raises(ModelError, match="are gone"):
        load_model(store, "moved")


def test_an_unknown_model_name_lists_the_known_ones(store, tiny_model):
    with pytest.raises(NotFoundError, match="No model named .nope.. Known: tiny"):
        load_model(store, "nope")


def test_device_and_dtype_choice():
    import torch

    auto = choose_device()
    assert auto in ("cuda", "mps", "cpu")
    assert choose_device("cpu") == "cpu"
    assert choose_dtype("cpu") == torch.float32
    assert choose_dtype("cpu", "bfloat16") == torch.bfloat16
    with pytest.raises(InputError, match="Unknown device"):
        choose_device("tpu")
    with pytest.raises(InputError, match="Unknown dtype"):
        choose_dtype("cpu", "int3")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA GPU"):
            choose_device("cuda")
