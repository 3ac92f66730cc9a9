"""Co-design report pages (reports/codesign_report.py), built from a folder of SYNTHETIC TEST DATA: the numbers
below are invented to exercise the layout (close points, long verdicts, missing quality), not measured results."""
import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.backends.backend_pdf import PdfPages

from reports.codesign_report import CODESIGN_PDF, CodesignInputError, build_codesign_pdf, codesign_pages
from reports.pages import overlapping_texts, place_labels, plot_page
from reports.run_report import build_pdf

COMPONENTS = ("pe_array", "decoders", "lut_unit", "online_quantizer", "vector_unit", "sram_inputs", "sram_weights",
              "sram_outputs", "dram")
# SYNTHETIC: recipe -> (pe rows, pe cols, MAC/PE/cycle, area mm2, latency s, energy J, PSNR dB or None,
# (on the energy front, on the area front)); the flags agree with the invented numbers
SYNTHETIC_RECIPES = {
    "semanticdialect": (32, 32, 2, 8.84, 2.50e4, 4.81e4, 21.40, (False, False)),
    "semanticdialect-no-seda": (32, 32, 2, 8.80, 2.49e4, 4.80e4, 21.38, (True, False)),  # close to the above
    "nvfp4": (32, 32, 2, 8.79, 2.45e4, 4.81e4, 23.57, (True, True)),
    "mxfp4": (32, 32, 2, 8.70, 2.45e4, 4.70e4, 19.91, (True, True)),
    "int4_g32": (40, 32, 1, 8.84, 3.10e4, 5.60e4, None, (False, False)),
}


def write_synthetic_codesign(folder, with_quality=True):
    """Write codesign.csv, codesign_dram.csv, codesign_anchor.csv and codesign_meta.json of invented numbers."""
    rows = []
    for i, (recipe, (r, c, mpc, area, lat, en, psnr, (fe, fa))) in enumerate(SYNTHETIC_RECIPES.items()):
        row = {"recipe": recipe, "design": f"edge-{recipe}", "normalize": "area", "pe_rows": r, "pe_cols": c,
               "macs_per_pe_cycle": mpc, "peak_macs_per_cycle": r * c * mpc, "area_mm2": area, "latency_s": lat,
               "energy_j": en, "energy_per_mac_pj": 0.9 + 0.05 * i, "avg_power_w": en / lat,
               "attention_share_of_latency": 0.74, "attention_share_of_energy": 0.61,
               "psnr_db": psnr if with_quality else None, "task_all": 0.9 if psnr and with_quality else None,
               "quality_source": "runs/study/quality.csv" if psnr and with_quality else "",
               "verdict": f"{recipe}: {3.1 * i:.1f} % less energy per video than nvfp4 at equal area, "
                          f"{1.2 * i:.1f} % longer, because the synthetic test row says so and this sentence is "
                          "deliberately long enough to need wrapping on an A4 landscape page of the report",
               "on_front_energy": fe and with_quality, "on_front_area": fa and with_quality}
        row.update({f"area.{k}_mm2": area / len(COMPONENTS) for k in COMPONENTS if k != "dram"})
        row.update({f"energy.{k}_j": en / len(COMPONENTS) for k in COMPONENTS})
        rows.append(row)
    pd.DataFrame(rows).to_csv(folder / "codesign.csv", index=False)
    pd.DataFrame([{"recipe": rec, "dram_pj_per_bit": pj, "energy_j": vals[5] * (0.4 + 0.06 * pj)}
                  for rec, vals in SYNTHETIC_RECIPES.items() for pj in (2.0, 5.0, 10.0, 20.0)]
                 ).to_csv(folder / "codesign_dram.csv", index=False)
    pd.DataFrame([{"name": "H100 (synthetic test anchor)", "latency_s": 40.0, "energy_j": 2.8e4, "power_w": 700.0,
                   "source": "synthetic test data, not a measurement"}]).to_csv(folder / "codesign_anchor.csv",
                                                                                 index=False)
    (folder / "codesign_meta.json").write_text(json.dumps(
        {"workload": "opensora2-256px", "base_design": "edge", "normalize": "area", "node_nm": 7,
         "energy_table": "horowitz45 (synthetic test)", "dram_pj_per_bit": 10.0}))
    return folder


@pytest.mark.filterwarnings("error::reports.pages.PageOverflowWarning")
@pytest.mark.parametrize("with_quality", [True, False])
def test_codesign_pdf_pages_fit(tmp_path, with_quality):
    write_synthetic_codesign(tmp_path, with_quality)
    path = build_codesign_pdf(tmp_path)
    assert path == tmp_path / CODESIGN_PDF
    assert path.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []   # no temporary left


def test_codesign_pages_counted(tmp_path):
    write_synthetic_codesign(tmp_path)
    with PdfPages(tmp_path / "x.pdf") as pdf:
        codesign_pages(pdf, tmp_path)
        assert pdf.get_pagecount() == 4


def _record_pages(monkeypatch):
    """Record, per saved page, its visible titles and figure texts (to check page order)."""
    pages = []
    real = PdfPages.savefig

    def savefig(self, figure=None, **kw):
        texts = [t.get_text() for t in figure.texts] + [ax.get_title() for ax in figure.axes]
        texts.append(figure.get_suptitle())
        pages.append(" | ".join(texts))
        return real(self, figure, **kw)
    monkeypatch.setattr(PdfPages, "savefig", savefig)
    return pages


def test_run_report_puts_codesign_after_summary(tmp_path, monkeypatch):
    (tmp_path / "manifest.json").write_text(json.dumps({"config": {"recipe": "semanticdialect"}}))
    pages = _record_pages(monkeypatch)
    build_pdf(tmp_path)
    assert len(pages) == 1 and "sim run report" in pages[0]
    write_synthetic_codesign(tmp_path)
    pages.clear()
    build_pdf(tmp_path)
    assert "sim run report" in pages[0]
    assert all("co-design" in p for p in pages[1:5]) and len(pages) == 5


@pytest.mark.parametrize("column, value, needle", [
    ("energy_j", "lots", "column 'energy_j' row 2 is not a number"),
    ("on_front_area", "maybe", "column 'on_front_area' row 2 is not a boolean"),
    ("normalize", "power", "column 'normalize'"),
    ("attention_share_of_energy", 61.0, "must lie in [0, 1]"),
])
def test_bad_codesign_input_names_file_and_field(tmp_path, column, value, needle):
    write_synthetic_codesign(tmp_path)
    rows = pd.read_csv(tmp_path / "codesign.csv")
    rows[column] = rows[column].astype(object)
    rows.loc[0, column] = value
    rows.to_csv(tmp_path / "codesign.csv", index=False)
    with pytest.raises(CodesignInputError, match="codesign.csv") as err:
        build_codesign_pdf(tmp_path)
    assert needle in str(err.value)
    assert not (tmp_path / CODESIGN_PDF).exists()


def test_missing_column_is_named(tmp_path):
    write_synthetic_codesign(tmp_path)
    pd.read_csv(tmp_path / "codesign.csv").drop(columns="verdict").to_csv(tmp_path / "codesign.csv", index=False)
    with pytest.raises(CodesignInputError, match="missing column 'verdict'"):
        build_codesign_pdf(tmp_path)


def test_labels_of_crowded_points_do_not_overlap():
    fig, axes = plot_page()
    ax = axes[0][0]
    xs, ys = [1.0, 1.001, 1.002, 1.0, 2.0, 2.0], [5.0, 5.0, 5.001, 4.999, 5.0, 5.0005]
    ax.scatter(xs, ys)
    ax.margins(0.25)
    names = ["semanticdialect", "semanticdialect-no-seda", "semanticdialect-d16", "nvfp4", "mxfp4", "int4_g32"]
    before = [ax.annotate(n, (x, y)) for n, x, y in zip(names, xs, ys)]
    fig.canvas.draw()
    assert overlapping_texts(before)        # the check itself sees the clash of naive labels
    for t in before:
        t.remove()
    placed = place_labels(ax, xs, ys, names)
    assert overlapping_texts(placed) == []
    plt.close(fig)
