from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def inbox(request):
    return render(request, "placeholder.html", {"title": "Prescription inbox"})


@login_required
def attention(request):
    return render(request, "placeholder.html", {"title": "Needs attention"})
