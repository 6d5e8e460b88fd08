app_name = "fhirapi"
urlpatterns: list = []
