from django.contrib.auth.decorators import permission_required
from django.shortcuts import render


@permission_required("audit.view_reports", raise_exception=True)
def reports(request):
    return render(request, "placeholder.html", {"title": "Audit reports"})
