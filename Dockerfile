FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
RUN useradd --system --uid 1000 ehr
COPY pyproject.toml README.md ./
COPY . .
RUN pip install --no-cache-dir . gunicorn \
 && SECRET_KEY=build FIELD_ENCRYPTION_KEYS=1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= BLIND_INDEX_KEY=build \
    python manage.py collectstatic --noinput
USER ehr
EXPOSE 8000
CMD ["gunicorn", "ehr.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", "--access-logfile", "-"]
