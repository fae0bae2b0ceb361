import pytest

from deepsphere.tasks import Config, ConfigError, MapsConfig, experiments, load_config


def test_builtin_experiment_loads_with_paper_settings():
    config = load_config("cosmo")
    assert "cosmo" in experiments()
    assert config.name == "cosmo"
    assert config.model.channels == [16, 32, 64, 64, 64] and config.model.K == 5
    assert config.model.head == "conv" and config.optim.lr_decay == 0.998
    assert config.data.patches == 192
    assert config.out_dir.as_posix() == "runs/cosmo"


def test_overrides_are_typed_and_nested():
    config = load_config(
        "cosmo", ["data.noise=1", "optim.lr=1e-3", "model.channels=[4, 8]", "trainer.devices=auto"]
    )
    assert config.data.noise == 1.0 and isinstance(config.data.noise, float)
    assert config.optim.lr == 1e-3
    assert config.model.channels == [4, 8]
    assert config.trainer.devices == "auto"
    assert load_config("cosmo", ["trainer.devices=2"]).trainer.devices == 2


def test_yaml_file_and_round_trip(tmp_path):
    config = load_config("cosmo", ["data.noise=0.25", "name=mine"])
    path = tmp_path / "mine.yaml"
    path.write_text(config.to_yaml())
    again = load_config(str(path))
    assert again == config
    assert again.out_dir.as_posix() == "runs/mine"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.nosie=1", "unknown config key 'data.nosie' (did you mean 'data.noise'?)"),
        ("modle.K=3", "did you mean 'model'"),
        ("model.K=three", "model.K must be int, got 'three'"),
        ("data.split=0.5", "data.split must be a list of float"),
        ("trainer.progress=yes please", "trainer.progress must be bool"),
        ("data.noise", "must look like section.key=value"),
        ("trainer.bn_batches=-1", "trainer.bn_batches must be >= 0 (0: off), got -1"),
    ],
)
def test_bad_keys_and_values_name_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        load_config("cosmo", [override])
    assert message in str(err.value)


def test_unknown_key_lists_allowed_keys():
    with pytest.raises(ConfigError, match=r"allowed keys of data: \['root'"):
        load_config("cosmo", ["data.bogus=1"])


def test_unknown_experiment_names_builtins(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown experiment 'cosmos'.*'cosmo'.*'shapes'"):
        load_config("cosmos")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(str(bad))


def test_defaults_are_a_valid_config():
    assert MapsConfig().to_dict()["data"]["make"]["nside"] == 256
    assert isinstance(MapsConfig(), Config) and MapsConfig().task == "maps"


def test_unknown_task_and_optimiser_are_named(tmp_path):
    with pytest.raises(ConfigError, match="unknown task 'map'.*maps"):
        load_config("cosmo", ["task=map"])
    with pytest.raises(ConfigError, match="optim.name must be adam or rmsprop, got 'sgd'"):
        load_config("cosmo", ["optim.name=sgd"])
