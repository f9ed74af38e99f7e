"""Importing quotes from CSV and Parquet files: round trips, exactness and clear errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ticks_helpers import store

from workbench.cli import main
from workbench.importers.tabular import TableError, import_quotes_file
from workbench.store.reader import quotes_frame

ROWS = [
    ("BTC_USDC", 1_723_161_600_000_000, "61837.63", "61837.64", "3.78826", "1.54698", 50),
    ("ETH_USDC", 1_723_161_600_000_000, "2683.8", "2683.81", "0.00000001", "31.4395", 51),
    ("BTC_USDC", 1_723_161_600_250_000, "61837.12345678", "61838", "12345678.9", "2", 52),
]
HEADER = "symbol,t,bid,ask,bid_qty,ask_qty,update_id"


def csv_file(path: Path, lines: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def stored(con) -> list[tuple]:  # type: ignore[no-untyped-def]
    return con.execute(
        "SELECT symbol, t, bid, ask, bid_qty, ask_qty, update_id, source FROM quotes ORDER BY rowid"
    ).fetchall()


def expected(source: str) -> list[tuple]:
    return [(s, t, Decimal(b), Decimal(a), Decimal(bq), Decimal(aq), u, source)
            for s, t, b, a, bq, aq, u in ROWS]  # fmt: skip


def test_csv_round_trip_is_exact_and_idempotent(tmp_path: Path) -> None:
    con = store(tmp_path)
    path = csv_file(tmp_path / "q.csv", [",".join(map(str, r)) for r in ROWS])
    res = import_quotes_file(con, path)
    assert (res.quotes, res.quotes_read) == (3, 3)
    assert stored(con) == expected("csv")
    again = import_quotes_file(con, path)
    assert (again.quotes, again.quotes_read) == (0, 3)
    # Written back out by DuckDB and read in again under another name: the same values.
    out = tmp_path / "out.csv"
    con.execute(f"COPY (SELECT symbol || '_2' AS symbol, t, bid, ask, bid_qty, ask_qty, update_id"
                f" FROM quotes ORDER BY rowid) TO '{out}' (HEADER)")  # fmt: skip
    import_quotes_file(con, out)
    rows = con.execute(
        "SELECT replace(symbol, '_2', ''), t, bid, ask FROM quotes WHERE symbol LIKE '%_2'"
        " ORDER BY rowid"
    ).fetchall()
    assert rows == [(s, t, Decimal(b), Decimal(a)) for s, t, b, a, *_ in ROWS]


def test_parquet_round_trip_with_decimal_and_timestamp_columns(tmp_path: Path) -> None:
    con = store(tmp_path)
    table = pa.table(
        {
            "t": pa.array([r[1] for r in ROWS], pa.timestamp("us", tz="UTC")),
            "bid": pa.array([Decimal(r[2]) for r in ROWS], pa.decimal128(20, 8)),
            "ask": pa.array([r[3] for r in ROWS], pa.string()),
            "bid_qty": pa.array([Decimal(r[4]) for r in ROWS], pa.decimal128(38, 10)),
            "ask_qty": pa.array([Decimal(r[5]) for r in ROWS], pa.decimal128(30, 8)),
            "update_id": pa.array([r[6] for r in ROWS], pa.int64()),
        }
    )
    path = tmp_path / "q.parquet"
    pq.write_table(table, path)
    res = import_quotes_file(con, path, symbol="BTC_USDC")
    assert res.quotes == 3
    assert stored(con) == [("BTC_USDC", *row[1:-1], "parquet") for row in expected("parquet")]
    frame = quotes_frame(con, ["BTC_USDC"])
    assert frame["bid"].to_list() == [Decimal(r[2]) for r in ROWS]


def test_symbol_option_fills_a_missing_column(tmp_path: Path) -> None:
    con = store(tmp_path)
    path = csv_file(tmp_path / "x.csv", ["1000,1.5,1.6", "2000,1.55,1.6"], header="t,bid,ask")
    with pytest.raises(TableError, match="missing column.*symbol.*--symbol"):
        import_quotes_file(con, path)
    import_quotes_file(con, path, symbol="SOL_USDC", source="mine")
    rows = con.execute("SELECT symbol, t, recv, bid, source FROM quotes ORDER BY t").fetchall()
    assert rows == [("SOL_USDC", 1000, 1000, Decimal("1.5"), "mine"),
                    ("SOL_USDC", 2000, 2000, Decimal("1.55"), "mine")]  # fmt: skip


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("A,1000,abc,1.6", r"row 2 \(line 3\): bid 'abc' is not a decimal number"),
        ("A,1000,1.123456789,1.6", r"row 2 \(line 3\): bid '1.123456789' has more than 8 decimal"),
        ("A,1000,1.7,1.6", r"row 2 \(line 3\): bid '1.7' is above the ask \(1.6\)"),
        ("A,1000,0,1.6", r"row 2 \(line 3\): bid '0' must be positive"),
        ("A,12.5,1.5,1.6", r"row 2 \(line 3\): t '12.5' is not an integer of microseconds"),
        ("A,,1.5,1.6", r"row 2 \(line 3\): t is missing"),
        ("A,1000,1.5,1e3", r"row 2 \(line 3\): ask '1e3' is not a decimal number"),
    ],
)
def test_bad_rows_name_row_and_column_and_store_nothing(
    tmp_path: Path, line: str, message: str
) -> None:
    con = store(tmp_path)
    path = csv_file(
        tmp_path / "bad.csv", ["A,500,1.5,1.6", line, "A,1500,x,1.6"], header="symbol,t,bid,ask"
    )
    with pytest.raises(TableError, match=message + r".*1 more bad row"):
        import_quotes_file(con, path)
    assert con.execute("SELECT count(*) FROM quotes").fetchall() == [(0,)]


def test_bad_files_are_refused_clearly(tmp_path: Path) -> None:
    con = store(tmp_path)
    unknown = csv_file(tmp_path / "u.csv", ["A,1,1.5,1.6,x"], header="symbol,t,bid,ask,note")
    with pytest.raises(TableError, match="unknown column.*note"):
        import_quotes_file(con, unknown)
    missing = csv_file(tmp_path / "m.csv", ["A,1,1.5"], header="symbol,t,bid")
    with pytest.raises(TableError, match=r"missing column\(s\) ask"):
        import_quotes_file(con, missing)
    floats = tmp_path / "f.parquet"
    pq.write_table(pa.table({"symbol": ["A"], "t": [1], "bid": [1.5], "ask": [1.6]}), floats)
    with pytest.raises(TableError, match="'bid' is DOUBLE: binary floating point"):
        import_quotes_file(con, floats)
    with pytest.raises(TableError, match="no such file"):
        import_quotes_file(con, tmp_path / "nope.csv")
    with pytest.raises(TableError, match="cannot tell the format"):
        import_quotes_file(con, csv_file(tmp_path / "q.dat", ["A,1,1.5,1.6"]))


def test_cli_imports_csv_and_reports_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cli.duckdb"
    good = csv_file(tmp_path / "g.csv", ["1000,1.5,1.6"], header="t,bid,ask")
    with pytest.raises(SystemExit) as ok:
        main(["import", "csv", str(good), "--symbol", "X", "--db", str(db)])
    assert ok.value.code == 0
    assert "1 quotes (1 new)" in capsys.readouterr().out
    bad = csv_file(tmp_path / "b.csv", ["1000,1.5,oops"], header="t,bid,ask")
    with pytest.raises(SystemExit) as err:
        main(["import", "csv", str(bad), "--symbol", "X", "--db", str(db)])
    assert err.value.code == 1
    assert "row 1 (line 2): ask 'oops' is not a decimal number" in capsys.readouterr().err
    con = store(tmp_path, "cli.duckdb")
    assert con.execute("SELECT symbol, bid FROM quotes").fetchall() == [("X", Decimal("1.5"))]
