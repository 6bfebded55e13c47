"""Fusion encoders: shapes, masks in both directions, padding invariance, shared weights, matching head."""
import pytest
import torch

from signkd.config import ConfigError, FusionConfig
from signkd.models.fusion import (ConcatFusion, HybridFusion, MatchingHead, build_fusion, concat_streams,
                                  split_streams)

H = 16


def make(kind="hybrid", layers=2):
    torch.manual_seed(0)
    cfg = FusionConfig(kind=kind, layers=layers, heads=2, ff=32, dropout=0.1, max_positions=40)
    return build_fusion(cfg, H).eval()


def inputs(b=3, t=9, l=6):
    torch.manual_seed(1)
    return torch.randn(b, t, H), torch.tensor([9, 5, 2]), torch.randn(b, l, H), torch.tensor([6, 2, 4])


@pytest.mark.parametrize("kind", ["hybrid", "concat"])
def test_shapes_and_zero_padding(kind):
    fusion = make(kind)
    assert isinstance(fusion, HybridFusion if kind == "hybrid" else ConcatFusion)
    v, vl, t, tl = inputs()
    fv, ft = fusion(v, vl, t, tl)
    assert fv.shape == v.shape and ft.shape == t.shape
    assert fv[1, 5:].abs().sum() == 0 and ft[1, 2:].abs().sum() == 0
    assert fv[2, :2].abs().sum() > 0 and ft[2, :4].abs().sum() > 0


@pytest.mark.parametrize("kind", ["hybrid", "concat"])
def test_padding_invariance_appended_and_changed_padding(kind):
    fusion = make(kind)
    v, vl, t, tl = inputs()
    fv, ft = fusion(v, vl, t, tl)
    v_p = torch.cat([v, torch.randn(3, 4, H)], 1)
    t_p = torch.cat([t, torch.randn(3, 3, H)], 1)
    for i in range(3):
        v_p[i, vl[i]:] = 1000 * torch.randn_like(v_p[i, vl[i]:])
        t_p[i, tl[i]:] = -1000 * torch.rand_like(t_p[i, tl[i]:])
    fv_p, ft_p = fusion(v_p, vl, t_p, tl)
    for i in range(3):
        assert torch.allclose(fv[i, :vl[i]], fv_p[i, :vl[i]], atol=1e-5)
        assert torch.allclose(ft[i, :tl[i]], ft_p[i, :tl[i]], atol=1e-5)


def test_text_to_video_attention_ignores_padded_frames():
    """The original's mask-transpose bug let text attend to padded frames: check it cannot."""
    fusion = make("hybrid", layers=1)
    v, vl, t, tl = inputs()
    _, ft = fusion(v, vl, t, tl)
    v2 = v.clone()
    v2[1, 5:] = 7.0                      # only sample 1's padded frames change
    _, ft2 = fusion(v2, vl, t, tl)
    assert torch.allclose(ft[1, :2], ft2[1, :2], atol=1e-6)
    v3 = v.clone()
    v3[1, 0] += torch.randn(H)             # a real frame does reach the text stream
    _, ft3 = fusion(v3, vl, t, tl)
    assert not torch.allclose(ft[1, :2], ft3[1, :2], atol=1e-4)


def test_video_to_text_attention_ignores_padded_tokens():
    fusion = make("hybrid", layers=1)
    v, vl, t, tl = inputs()
    fv, _ = fusion(v, vl, t, tl)
    t2 = t.clone()
    t2[1, 2:] = -3.0
    fv2, _ = fusion(v, vl, t2, tl)
    assert torch.allclose(fv[1, :5], fv2[1, :5], atol=1e-6)
    t3 = t.clone()
    t3[1, 1] += torch.randn(H)
    fv3, _ = fusion(v, vl, t3, tl)
    assert not torch.allclose(fv[1, :5], fv3[1, :5], atol=1e-4)


def test_one_set_of_layer_weights_for_both_streams_and_text_sees_updated_video():
    fusion = make("hybrid", layers=2)
    assert len(fusion.layers) == 2
    names = {k.split(".")[0] for k in fusion.state_dict()}
    assert names == {"video_positions", "layers"}     # no per-stream layer copies, no text position table
    # the text stream of layer 1 reads the video stream already updated by layer 1
    v, vl, t, tl = inputs()
    layer = fusion.layers[0]
    from signkd.data.batch import lengths_to_mask
    vm, tm = lengths_to_mask(vl, 9), lengths_to_mask(tl, 6)
    fusion.layers = fusion.layers[:1]
    _, ft = fusion(v, vl, t, tl)
    v1 = layer(fusion.video_positions(v), vm, t, tm)
    expected = layer(t, tm, v1, vm)
    assert torch.allclose(ft[0], expected[0], atol=1e-5)


def test_text_stream_gets_no_second_position_embedding():
    """Permuting text tokens permutes the fused text outputs (no position added inside fusion)."""
    fusion = make("hybrid")
    v, vl, t, tl = inputs()
    tl = torch.full((3,), 6)
    _, ft = fusion(v, vl, t, tl)
    perm = torch.randperm(6)
    _, ft_perm = fusion(v, vl, t[:, perm], tl)
    assert torch.allclose(ft[:, perm], ft_perm, atol=1e-5)


def test_video_positions_limit_is_a_config_error():
    fusion = make()
    with pytest.raises(ConfigError, match="max_positions"):
        fusion(torch.randn(1, 41, H), torch.tensor([41]), torch.randn(1, 3, H), torch.tensor([3]))


def test_concat_and_split_streams_roundtrip():
    a, al = torch.randn(2, 4, 3), torch.tensor([4, 2])
    b, bl = torch.randn(2, 3, 3), torch.tensor([1, 3])
    joint, lengths = concat_streams(a, al, b, bl)
    assert lengths.tolist() == [5, 5] and joint.shape == (2, 5, 3)
    assert torch.equal(joint[1, :2], a[1, :2]) and torch.equal(joint[1, 2:5], b[1, :3])
    assert torch.equal(joint[0, 4], b[0, 0])
    a2, b2 = split_streams(joint, al, 4, bl, 3)
    assert torch.equal(a2[0], a[0]) and torch.equal(a2[1, :2], a[1, :2]) and a2[1, 2:].abs().sum() == 0
    assert torch.equal(b2[1], b[1]) and torch.equal(b2[0, :1], b[0, :1]) and b2[0, 1:].abs().sum() == 0


def test_matching_head_reads_first_token():
    head = MatchingHead(H)
    x = torch.randn(4, 5, H)
    out = head(x)
    assert out.shape == (4, 2)
    x2 = x.clone()
    x2[:, 1:] = 0
    assert torch.allclose(head(x2), out)


def test_unknown_kind():
    cfg = FusionConfig(kind="hybrid")
    cfg.kind = "sum"
    with pytest.raises(ConfigError, match="fusion.kind"):
        build_fusion(cfg, H)
