"""``geoportal planificar``: the investment planner from the command line (Spanish output)."""

from __future__ import annotations

import typer

from geoportal.cli_comun import console
from geoportal.cli_comun import fail as _fail


def _n(x: float | None, dec: int = 0) -> str:
    if x is None:
        return "—"
    return f"{x:,.{dec}f}".replace(",", "X").replace(".", ",").replace("X", ".")


def planificar(
    distrito: str = typer.Option(None, help="Distrito 2022 (4 dígitos), p. ej. 1116."),
    departamento: str = typer.Option(None, help="Departamento (2 dígitos), p. ej. 11."),
    tipo: str = typer.Option("usf", help="Tipo de punto de entrega (tipos_punto del catálogo)."),
    k: int = typer.Option(3, "--k", help="Cantidad de puntos nuevos."),
    capacidad: int = typer.Option(None, help="Capacidad de cada punto nuevo (problema con capacidad)."),
    candidatos: str = typer.Option("h3", help="h3 (celdas res-8 con hogares), localidades, o un CSV lon,lat[,nombre]."),
    presupuesto: float = typer.Option(
        None, help="Presupuesto (guaraníes): limita k según el costo supuesto del catálogo."
    ),
    verificar: bool = typer.Option(True, "--verificar/--sin-verificar", help="Verificar cada sitio con la simulación."),
    fecha_corte: str = typer.Option(None, help="Fecha de corte AAAA-MM-DD (por defecto, la de cada entrevista)."),
) -> None:
    """Propone dónde abrir los próximos k puntos (máxima cobertura, spopt + CBC), SIN guardar nada."""
    from datetime import date

    from geoportal import planificador
    from geoportal.db import connect

    if bool(distrito) == bool(departamento):
        _fail("Indique --distrito o --departamento (uno de los dos).")
    try:
        corte = date.fromisoformat(fecha_corte) if fecha_corte else None
    except ValueError:
        _fail(f"Fecha de corte no válida: '{fecha_corte}' (use AAAA-MM-DD).")
    nivel, codigo = ("distrito", distrito) if distrito else ("departamento", departamento)
    try:
        with connect() as conn:
            plan = planificador.planificar(
                conn, nivel, codigo, tipo.lower(), k, capacidad, candidatos, presupuesto, fecha_corte=corte
            )
            verificados = planificador.verificar(conn, plan, fecha_corte=corte) if verificar else []
    except ValueError as exc:
        _fail(str(exc))
    s = plan.solucion
    demanda, cand, pares = plan.tamano
    console.print(
        f"[bold]Planificación: no se guardó nada.[/] {plan.territorio['nombre']} ({nivel} "
        f"{plan.territorio['codigo']}), tipo {plan.tipo}, k = {plan.k}"
        + (f", capacidad {_n(plan.capacidad)}" if plan.capacidad else ", sin capacidad")
    )
    console.print(
        f"Problema: {_n(demanda)} celdas de demanda × {_n(cand)} candidatos ({_n(pares)} pares al alcance); "
        f"demanda sin oferta {_n(plan.demanda_total)} (unidad × servicio)."
    )
    console.print(
        f"Óptimo (CBC, estado {s.estado}): {_n(s.objetivo, 1)}  |  heurística codiciosa: {_n(s.codicioso, 1)}"
        f"  |  cota LP {_n(s.cota, 1)}, gap {_n(100 * s.gap, 2)} %  |  {_n(s.segundos, 2)} s"
        f" (lectura de la demanda {_n(plan.segundos_demanda, 2)} s)"
    )
    for n, sitio in enumerate(plan.sitios, start=1):
        linea = (
            f"  {n}. {sitio['nombre']}  lon {sitio['lon']:.5f}, lat {sitio['lat']:.5f} ({sitio['zona']}): "
            f"{_n(sitio['unidades_estimadas'], 1)} unidades estimadas, {len(sitio['celdas_al_alcance'])} celdas"
        )
        if verificados:
            v = verificados[n - 1]
            cambios = [
                f"{k.replace('LOGRO_', 'Logro ')} {d['antes']}→{d['despues']}"
                for k, d in v["logros"].items()
                if d["antes"] != d["despues"]
            ]
            linea += (
                f"; simulación (distrito {v['distrito']}): +{_n(v['unidades_agregadas'])} con oferta"
                + (f", {', '.join(cambios)}" if cambios else ", Logros sin cambio")
                + (f", {_n(v['costo_por_unidad'])} Gs por unidad (costo supuesto)" if v["costo_por_unidad"] else "")
            )
        console.print(linea)
    if not plan.sitios:
        console.print("No hay demanda sin oferta al alcance de ningún candidato.")
