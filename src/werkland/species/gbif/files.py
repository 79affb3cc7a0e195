"""GBIF occurrence files: record normalisation, licences, SIMPLE_CSV and DwC-A download zips."""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from werkland._errors import WerklandInputError
from werkland.species.gbif.client import MAX_MEMBER_BYTES, RECORD_COLUMNS

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# record normalisation


_LICENCES = (
    ("by-nc", "CC_BY_NC_4_0"),
    ("by_nc", "CC_BY_NC_4_0"),
    ("publicdomain/zero", "CC0_1_0"),
    ("cc0", "CC0_1_0"),
    ("licenses/by/", "CC_BY_4_0"),
    ("cc_by_4", "CC_BY_4_0"),
)


def normalise_licence(values: pd.Series) -> pd.Series:
    """Map licence URLs and GBIF enum names to ``CC0_1_0``, ``CC_BY_4_0``, ``CC_BY_NC_4_0`` (else as given)."""
    s = values.fillna("").astype(str)
    low = s.str.lower()
    out = s.copy()
    out[low == ""] = "UNSPECIFIED"
    done = pd.Series(False, index=s.index)
    for needle, name in _LICENCES:
        hit = low.str.contains(needle, regex=False) & ~done
        out[hit] = name
        done |= hit
    return out


def records_to_frame(rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Normalise search results (list of dicts) or a download table into :data:`RECORD_COLUMNS`.

    Lists (``issues``, ``recordedBy`` in some sources) are joined with ``;``; the download column
    ``issue`` becomes ``issues``; licences are normalised by :func:`normalise_licence`.
    """
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame.from_records(list(rows))
    if "issues" not in df.columns and "issue" in df.columns:
        df = df.rename(columns={"issue": "issues"})
    if "gbifID" not in df.columns and "key" in df.columns:
        df["gbifID"] = df["key"]
    if "hasGeospatialIssues" not in df.columns and "hasGeospatialIssue" in df.columns:
        df = df.rename(columns={"hasGeospatialIssue": "hasGeospatialIssues"})
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for col, kind in RECORD_COLUMNS.items():
        if col in df.columns:
            s = df[col].reset_index(drop=True)
        else:
            s = pd.Series([None] * len(df), dtype=object)
        if kind == "float":
            out[col] = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            out[col] = _to_str_column(s)
    out["issues"] = out["issues"].fillna("")
    out["license"] = normalise_licence(out["license"])
    return out


def _to_str_column(s: pd.Series) -> pd.Series:
    """Object column of ``str`` or ``None``; lists joined with ``;``, integral floats without ``.0``."""
    if len(s) == 0:
        return s.astype(object)
    inferred = pd.api.types.infer_dtype(s, skipna=True)
    if inferred in ("string", "empty"):
        return s.astype(object).where(s.notna(), None)
    notna = s.notna()
    vals = s[notna].map(lambda v: ";".join(map(str, v)) if isinstance(v, list | tuple) else _scalar_str(v))
    out = pd.Series([None] * len(s), index=s.index, dtype=object)
    out[notna] = vals
    return out


def _scalar_str(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


# --------------------------------------------------------------------------------------------
# file reading (SIMPLE_CSV / DwC-A zips and extracted tables)


class _LimitedReader(io.RawIOBase):
    """Wrap a binary stream and fail once more than ``limit`` bytes were read (zip bombs, lying headers)."""

    def __init__(self, raw: Any, limit: int, name: str) -> None:
        self.raw, self.limit, self.name_, self.n = raw, limit, name, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.raw.read(len(b))
        self.n += len(data)
        if self.n > self.limit:
            raise WerklandInputError(
                f"zip member {self.name_} is larger than the limit of {self.limit} bytes", fix="raise species.max_member_bytes if the file is genuine"
            )
        b[: len(data)] = data
        return len(data)


def _safe_member(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    return not (p.is_absolute() or ".." in p.parts or re.match(r"^[A-Za-z]:", name))


def _read_table(fh: Any, sep: str, usecols: Iterable[str] | None = None) -> pd.DataFrame:
    wanted = set(usecols) if usecols is not None else None
    return pd.read_csv(
        fh,
        sep=sep,
        quoting=csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL,
        dtype=str,
        keep_default_na=False,
        na_values=[""],
        usecols=(lambda c: c in wanted) if wanted is not None else None,
        encoding="utf-8",
        on_bad_lines="error",
        low_memory=False,
    )


_DWCA_AUX = frozenset({"rights.txt", "citations.txt", "verbatim.txt", "multimedia.txt", "meta.xml", "metadata.xml"})
_DOI_RE = re.compile(r"10\.15468/dl\.[a-z0-9]+", re.IGNORECASE)
_USECOLS = set(RECORD_COLUMNS) | {"issue", "key", "hasGeospatialIssue"}


def read_occurrence_file(path: str | os.PathLike[str], *, max_member_bytes: int = MAX_MEMBER_BYTES) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a GBIF download zip (SIMPLE_CSV or DwC-A) or an extracted occurrence table.

    Parameters
    ----------
    path : path-like
        ``<key>.zip`` with one ``<key>.csv`` (SIMPLE_CSV, tab-separated, no quoting) or with
        ``occurrence.txt`` (DwC-A); or an extracted ``.csv``/``.txt``/``.tsv`` table (tab- or
        comma-separated, detected from the header line).
    max_member_bytes : int
        Maximum uncompressed size of the table member, bytes.

    Returns
    -------
    records : pandas.DataFrame
        Normalised records (:func:`records_to_frame`).
    info : dict
        ``format`` (SIMPLE_CSV, DWCA, TABLE), ``member``, ``download_key``, ``doi`` (from DwC-A
        metadata when present), ``rights`` (text of rights.txt), ``citations`` (text of citations.txt).

    Raises
    ------
    WerklandInputError
        Missing file, unsafe member names, no occurrence table, oversize member or unreadable table.
    """
    p = Path(path)
    if not p.exists():
        raise WerklandInputError("GBIF occurrence file not found", path=str(p), fix="check species.file_path in the config")
    info: dict[str, Any] = {"format": None, "member": None, "download_key": None, "doi": None, "rights": None, "citations": None}
    m = re.match(r"^(\d{7}-\d{15})", p.name)
    if m:
        info["download_key"] = m.group(1)
    try:
        if zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as zf:
                infos = zf.infolist()
                bad = [i.filename for i in infos if not _safe_member(i.filename)]
                if bad:
                    raise WerklandInputError(
                        f"zip has unsafe member names {bad[:3]} (absolute or '..' paths)", path=str(p), fix="use the zip as downloaded from GBIF"
                    )
                names = {i.filename: i for i in infos if not i.is_dir()}
                if "occurrence.txt" in names:
                    member, fmt = "occurrence.txt", "DWCA"
                else:
                    csvs = [n for n in names if "/" not in n and n.lower().endswith((".csv", ".txt", ".tsv"))
                            and n.lower() not in _DWCA_AUX]
                    if len(csvs) != 1:
                        raise WerklandInputError(
                            f"zip has no occurrence table (members: {sorted(names)[:8]})",
                            path=str(p),
                            fix="give a GBIF SIMPLE_CSV or DwC-A download (SIMPLE_PARQUET/SPECIES_LIST are not occurrence tables here)",
                        )
                    member, fmt = csvs[0], "SIMPLE_CSV"
                    if not info["download_key"]:
                        mk = re.match(r"^(\d{7}-\d{15})", member)
                        info["download_key"] = mk.group(1) if mk else None
                zi = names[member]
                if zi.file_size > max_member_bytes:
                    raise WerklandInputError(
                        f"zip member {member} is {zi.file_size} bytes, above the limit of {max_member_bytes}",
                        path=str(p),
                        fix="raise species.max_member_bytes if the file is genuine",
                    )
                for extra, small in (("rights.txt", "rights"), ("citations.txt", "citations"), ("metadata.xml", "_metadata")):
                    if extra in names and names[extra].file_size < 50 * 1024**2:
                        with zf.open(extra) as fh:
                            info[small] = _LimitedReader(fh, 50 * 1024**2, extra).read().decode("utf-8", "replace")
                meta_txt = info.pop("_metadata", None)
                if meta_txt:
                    d = _DOI_RE.search(meta_txt)
                    info["doi"] = d.group(0) if d else None
                with zf.open(member) as raw:
                    buf = io.BufferedReader(_LimitedReader(raw, max_member_bytes, member), buffer_size=1 << 20)
                    df = _read_table(buf, "\t", _USECOLS)
                info.update(format=fmt, member=member)
        else:
            with open(p, encoding="utf-8", errors="replace") as fh:
                header = fh.readline()
            sep = "\t" if header.count("\t") >= header.count(",") else ","
            if p.stat().st_size > max_member_bytes:
                raise WerklandInputError(f"table is larger than {max_member_bytes} bytes", path=str(p), fix="raise species.max_member_bytes")
            with open(p, "rb") as fh:
                df = _read_table(fh, sep, _USECOLS)
            info.update(format="TABLE", member=p.name)
    except zipfile.BadZipFile as exc:
        raise WerklandInputError(f"corrupt zip ({exc})", path=str(p), fix="download the file again") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, zipfile.LargeZipFile) as exc:
        raise WerklandInputError(f"cannot parse occurrence table ({str(exc)[:200]})", path=str(p), fix="give an unmodified GBIF download") from exc
    if not {"decimalLatitude", "decimalLongitude"} <= set(df.columns):
        raise WerklandInputError(
            f"table {info['member']} has no decimalLatitude/decimalLongitude columns", path=str(p), fix="give a GBIF occurrence table"
        )
    log.info("read %d records from %s (%s)", len(df), p.name, info["format"])
    return records_to_frame(df), info
