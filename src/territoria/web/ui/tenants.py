"""What the citizen page and the widget show for one collectivity (tenant): name, welcome, contact, colour.

Stored as `<data dir>/ui/tenants/<tenant>.json`, edited in the agent space ("Personnalisation"). A tenant
without a file gets neutral defaults (TERRITORIA_UI_NAME names the collectivity of the default tenant).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from territoria.core.errors import TerritoriaError

DEFAULT_COLOR = "#000091"
DEFAULT_EXAMPLES = [
    "Comment refaire une carte d'identité perdue ?",
    "Comment obtenir un acte de naissance ?",
    "Ma voiture a été mise en fourrière, que faire ?",
]


@dataclass
class TenantUI:
    tenant: str
    name: str = ""
    welcome: str = ("Bonjour, je réponds à vos questions sur les démarches et les services publics à partir "
                    "des documents publiés par la collectivité.")
    contact_label: str = ""     # e.g. « l'accueil de la mairie de Saint-Exemple »
    contact_phone: str = ""
    contact_url: str = ""
    contact_address: str = ""
    color: str = DEFAULT_COLOR
    examples: list[str] = field(default_factory=lambda: list(DEFAULT_EXAMPLES))
    widget_origins: list[str] = field(default_factory=list)  # sites allowed to embed the widget (empty: all)

    @property
    def display_name(self) -> str:
        return self.name or "Votre collectivité"

    def public(self) -> dict:
        """What the browser gets (widget loader)."""
        return {"tenant": self.tenant, "name": self.display_name, "color": self.color}

    def to_dict(self) -> dict:
        return asdict(self)


def check_tenant(tenant: str) -> str:
    from territoria.trust.tenants import check_name

    return check_name(tenant)


def _path(tenant: str) -> Path:
    from territoria.core.settings import get_settings

    return get_settings().data_dir / "ui" / "tenants" / f"{check_tenant(tenant)}.json"


def load(tenant: str) -> TenantUI:
    from territoria.core.settings import get_settings

    check_tenant(tenant)
    ui = TenantUI(tenant=tenant)
    if tenant == get_settings().tenant:
        ui.name = os.environ.get("TERRITORIA_UI_NAME", "")
    try:
        data = json.loads(_path(tenant).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ui
    for k, v in data.items():
        if k in TenantUI.__dataclass_fields__ and k != "tenant" and isinstance(v, type(getattr(ui, k))):
            setattr(ui, k, v)
    if not valid_color(ui.color):
        ui.color = DEFAULT_COLOR
    return ui


def save(ui: TenantUI) -> None:
    p = _path(ui.tenant)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(ui.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, p)


def known_tenants() -> list[str]:
    """Tenants of the registry, plus the default one and those with a UI configuration (agent space's selector)."""
    from territoria.core.settings import get_settings, is_tenant_name
    from territoria.trust.tenants import list_all

    s = get_settings()
    out = {s.tenant, *(t["tenant"] for t in list_all())}
    d = s.data_dir / "ui" / "tenants"
    if d.is_dir():
        out.update(p.stem for p in d.glob("*.json"))
    return sorted(t for t in out if is_tenant_name(t))


# -- colours -----------------------------------------------------------------------------------

def valid_color(c: str) -> bool:
    return bool(re.fullmatch(r"#[0-9a-fA-F]{6}", c or ""))


def _lum(c: str) -> float:
    def ch(x: int) -> float:
        v = x / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (int(c[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_lum(a), _lum(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def check_color(c: str) -> str:
    """The colour is used behind white text and as link colour on white: both need 4.5:1 (WCAG AA)."""
    if not valid_color(c):
        raise TerritoriaError(f"Couleur invalide : « {c} ».", hint="Indiquez une couleur au format #RRVVBB.")
    ratio = contrast(c, "#ffffff")
    if ratio < 4.5:
        raise TerritoriaError(
            f"Cette couleur est trop claire : le contraste avec le blanc est de {ratio:.1f}:1, il faut au moins 4,5:1 "
            "pour que les textes restent lisibles (RGAA, critère 3.2).",
            hint="Choisissez une teinte plus foncée.")
    return c.lower()
