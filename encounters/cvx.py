"""CDC CVX vaccine codes offered when recording an immunization by hand (a short list of the vaccines a primary
care clinic gives; imported immunizations may carry any CVX code). Source: CDC IIS code set "CVX - Vaccines
Administered" (https://www2a.cdc.gov/vaccines/iis/iisstandards/vaccines.asp?rpt=cvx), short descriptions."""

CVX: dict[str, str] = {
    "03": "MMR",
    "08": "Hep B, adolescent or pediatric",
    "10": "IPV",
    "20": "DTaP",
    "21": "varicella",
    "33": "pneumococcal polysaccharide PPV23",
    "43": "Hep B, adult",
    "48": "Hib (PRP-T)",
    "49": "Hib (PRP-OMP)",
    "52": "Hep A, adult",
    "62": "HPV, quadrivalent",
    "83": "Hep A, ped/adol, 2 dose",
    "88": "influenza, unspecified formulation",
    "94": "MMRV",
    "110": "DTaP-Hep B-IPV",
    "113": "Td (adult) preservative free",
    "114": "meningococcal MCV4P",
    "115": "Tdap",
    "116": "rotavirus, pentavalent",
    "119": "rotavirus, monovalent",
    "121": "zoster live",
    "133": "Pneumococcal conjugate PCV 13",
    "140": "Influenza, seasonal, injectable, preservative free",
    "141": "Influenza, seasonal, injectable",
    "150": "Influenza, injectable, quadrivalent, preservative free",
    "158": "influenza, injectable, quadrivalent",
    "165": "HPV9",
    "187": "zoster recombinant",
    "197": "influenza, high-dose, quadrivalent",
    "207": "COVID-19, mRNA, LNP-S, PF, 100 mcg/0.5mL dose",
    "208": "COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose",
    "213": "SARS-COV-2 (COVID-19) vaccine, UNSPECIFIED FORMULATION",
    "215": "Pneumococcal conjugate PCV15",
    "216": "Pneumococcal conjugate PCV20",
}


def cvx_normalise(code: str) -> str:
    """'3' and '03' are the same code: CVX codes of one digit are written with a leading zero."""
    code = (code or "").strip()
    return code.zfill(2) if code.isdigit() else code


def cvx_choices() -> list[tuple[str, str]]:
    return sorted(((c, f"{d} (CVX {c})") for c, d in CVX.items()), key=lambda c: c[1].lower())
