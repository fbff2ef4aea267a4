#include "offline_rules.hpp"

#include <map>

namespace mq::llm::rules {

const std::vector<field_rules>& enum_fields() {
  static const std::vector<field_rules> all = {
      {"business_sector",
       "software_saas",
       {
           {"retail", {"retail", "tienda", "tiendas", "store", "stores", "sucursal*", "minorista*", "punto de venta", "local comercial"}},
           {"ecommerce", {"ecommerce", "e-commerce", "tienda online", "online store", "shopify", "woocommerce", "carrito", "checkout", "venta online", "ventas online", "sitio web de ventas"}},
           {"financial_services", {"banco", "bank", "credito*", "credit", "prestamo*", "loan*", "fintech", "financier*", "financial", "tarjeta*", "cooperativa de ahorro"}},
           {"insurance", {"seguro", "seguros", "insurance", "poliza*", "polic*", "aseguradora", "siniestro*", "claims", "corredora de seguros"}},
           {"healthcare", {"clinica*", "clinic*", "hospital*", "paciente*", "patient*", "salud", "health*", "medico*", "doctor*", "dental"}},
           {"pharmaceuticals", {"farmac*", "pharma*", "laboratorio*", "medicamento*", "drug*", "receta*"}},
           {"energy", {"energia", "energy", "solar", "petroleo", "oil", "gas natural", "renovable*", "renewable*", "paneles"}},
           {"utilities", {"agua potable", "sanitaria", "electricidad", "utility", "utilities", "distribuidora electrica", "water utility", "servicios basicos"}},
           {"telecom", {"telecom*", "telefonia", "fibra optica", "internet provider", "isp", "operador movil", "mobile carrier", "planes moviles"}},
           {"transportation_logistics", {"logistic*", "transporte*", "shipping", "despacho*", "flota", "fleet", "courier", "envio*", "bodega*", "warehouse*", "camion*", "truck*", "ultima milla", "last mile"}},
           {"tourism_hospitality", {"hotel*", "turismo", "tourism", "turista*", "reserva*", "booking*", "agencia de viajes", "travel", "hostal*", "resort*", "huesped*", "guest*"}},
           {"education", {"universidad*", "university", "colegio*", "school*", "estudiante*", "student*", "curso*", "course*", "educacion", "education", "matricula*", "enrollment", "alumno*", "apoderado*"}},
           {"government", {"municipalidad*", "municipio*", "gobierno", "government", "ministerio*", "sector publico", "public sector", "ciudadano*", "citizen*", "servicio publico"}},
           {"agroindustry", {"agricola*", "agro*", "cosecha*", "harvest*", "fundo*", "farm*", "fruta*", "exportadora*", "vinedo*", "vineyard*", "vina", "cultivo*"}},
           {"manufacturing", {"fabrica*", "factory", "factories", "manufactur*", "planta productiva", "produccion", "production line", "industrial", "maquinaria"}},
           {"construction", {"construccion", "construction", "constructora*", "obra*", "contractor*", "edificio*", "inmobiliario"}},
           {"mining", {"minera*", "mining", "mina", "mine", "cobre", "copper", "litio", "lithium", "faena*"}},
           {"media_entertainment", {"medios", "media", "streaming", "entretenimiento", "entertainment", "productora*", "television", "editorial", "publisher", "podcast*", "radio"}},
           {"software_saas", {"software", "saas", "startup", "suscripcion*", "subscription*", "plataforma tecnologica", "desarrolladores", "developers", "b2b software"}},
           {"real_estate", {"inmobiliaria*", "real estate", "propiedad*", "propert*", "departamento*", "apartment*", "arriendo*", "rental*", "corredora de propiedades", "corretaje"}},
           {"food_beverages", {"restaurante*", "restaurant*", "alimento*", "food", "bebida*", "beverage*", "cafe", "cafeteria*", "coffee", "cerveceria*", "brewery", "panaderia*", "bakery"}},
           {"cpg", {"consumo masivo", "consumer goods", "cpg", "fmcg", "supermercado*", "supermarket*", "marcas propias", "distribuidores", "retail de consumo"}},
           {"automotive", {"automotora*", "automotive", "concesionario*", "dealership*", "vehiculo*", "vehicle*", "repuesto*", "auto parts", "autos", "cars"}},
           {"ngo", {"fundacion", "foundation", "ong", "ngo", "donante*", "donor*", "donacion*", "donation*", "voluntario*", "volunteer*", "sin fines de lucro", "nonprofit", "non-profit"}},
           {"human_resources", {"recursos humanos", "human resources", "reclutamiento", "recruit*", "candidato*", "candidate*", "nomina*", "payroll", "talento", "talent", "postulante*", "headhunt*"}},
       }},
      {"lead_source",
       "seo",
       {
           {"referral", {"recomend*", "referid*", "referral", "referred", "me hablo de ustedes", "a friend", "un amigo", "una amiga", "colega*", "word of mouth", "boca a boca"}},
           {"seo", {"google", "busqueda*", "buscando en internet", "searching online", "search engine", "blog", "articulo de su blog"}},
           {"sem_ads", {"anuncio en google", "google ads", "ad on google", "publicidad pagada", "sponsored", "aviso pagado", "clic en un anuncio", "clicked an ad"}},
           {"email", {"newsletter", "boletin*", "su correo mensual", "your newsletter", "mailing"}},
           {"event", {"evento", "event", "feria*", "conference*", "conferencia*", "webinar*", "summit", "meetup", "charla*", "stand"}},
           {"partner", {"partner*", "socio*", "integrador*", "aliado*", "reseller*", "consultora*", "agencia partner"}},
           {"outbound_call", {"me llamaron", "nos llamaron", "llamada de ustedes", "you called", "cold call", "your call", "su llamada", "tu llamada", "call from your team"}},
           {"cold_email", {"correo en frio", "cold email", "your email", "su correo", "tu correo", "me escribieron", "nos escribieron", "you emailed", "your sales email"}},
           {"linkedin", {"linkedin"}},
           {"instagram", {"instagram"}},
           {"facebook", {"facebook"}},
           {"webchat", {"chat de la web", "chat de su sitio", "chat en su sitio", "chat de su pagina", "website chat", "chat on your website", "webchat", "chat del sitio"}},
           {"pr", {"prensa", "press", "entrevista*", "interview", "noticia*", "news", "reportaje*", "diario", "newspaper"}},
           {"marketplace", {"marketplace", "app store", "tienda de aplicaciones", "appexchange", "hubspot marketplace", "directorio de apps"}},
       }},
      {"vambe_product",
       "mercur",
       {
           {"mercur", {"whatsapp", "chat*", "crm", "omnicanal*", "omnichannel", "conversacion*", "conversation*", "mensajes", "messages", "integracion con", "integration with"}},
           {"iris", {"rapido", "simple", "facil", "fast", "easy", "quick*", "sencill*", "sin complicaciones", "out of the box", "en pocos dias", "in a few days", "plug and play"}},
           {"ads", {"anuncios", "ads", "atribucion", "attribution", "campana*", "campaign*", "publicidad", "advertising", "roas", "cpc", "pauta*"}},
           {"axis", {"solo integracion", "solo la integracion", "only the integration", "only integrations", "erp", "sap", "conectar sistemas", "connect our systems", "middleware", "sincronizar", "sync"}},
       }},
      {"use_case",
       "conversational_support",
       {
           {"lead_scoring", {"calificar leads", "lead scoring", "priorizar leads", "qualify leads", "leads calientes", "hot leads", "scoring", "puntuar", "prospectos calificados"}},
           {"customer_segmentation", {"segment*", "perfiles de cliente", "customer profiles", "cluster*", "tipos de clientes"}},
           {"churn_prediction", {"churn", "fuga", "abandono", "cancelaciones", "cancellations", "retencion", "retention", "se dan de baja"}},
           {"marketing_attribution", {"atribucion", "attribution", "que canal", "which channel", "roi de marketing", "marketing roi", "de donde vienen"}},
           {"campaign_optimization", {"optimizar campanas", "optimize campaigns", "campaign optimization", "campanas", "campaigns", "a/b", "envios masivos", "mass messaging"}},
           {"demand_forecasting", {"pronostico*", "forecast*", "demanda", "demand", "inventario*", "inventory", "stock", "quiebres de stock"}},
           {"voice_analytics", {"llamadas grabadas", "call recordings", "grabaciones", "voz", "voice", "call center", "audio*", "transcribir llamadas"}},
           {"operations_automation", {"automatizar", "automate", "automation", "automatizacion", "procesos manuales", "manual process*", "flujo de trabajo", "workflow*", "tareas repetitivas", "repetitive tasks"}},
           {"real_time_reporting", {"tiempo real", "real time", "real-time", "dashboard*", "reporte*", "report*", "tablero*", "metricas", "metrics"}},
           {"dw_modernization", {"data warehouse", "bodega de datos", "migrar datos", "migrate data", "legacy", "modernizar", "modernize", "bigquery", "snowflake", "redshift", "datalake", "data lake"}},
           {"fraud_detection", {"fraude*", "fraud*", "transacciones sospechosas", "suspicious", "chargeback*", "suplantacion"}},
           {"conversational_support", {"atencion al cliente", "customer support", "customer service", "soporte", "support", "preguntas frecuentes", "faq", "responder mensajes", "answer messages", "chatbot*", "bot", "consultas"}},
       }},
      {"primary_pain_point",
       "saturated_support",
       {
           {"lack_visibility", {"no sabemos", "visibilidad", "visibility", "no tenemos claridad", "a ciegas", "blind", "we don't know", "no tenemos idea", "no idea"}},
           {"slow_reporting", {"reportes tardan", "reports take", "reporting takes", "semanas en", "weeks to", "excel", "reportes lentos", "slow reports", "armar reportes", "cierre de mes"}},
           {"low_conversion", {"conversion", "convierten", "convert*", "pocas ventas", "few sales", "cierre bajo", "tasa de cierre", "close rate", "se enfrian"}},
           {"high_churn", {"perdemos clientes", "losing customers", "se van", "cancelan", "cancel*", "churn", "se dan de baja", "renovaciones"}},
           {"high_advertising_costs", {"costo por", "cost per", "cac", "muy caro el", "publicidad cara", "ad spend", "advertising costs", "presupuesto de publicidad", "gastamos mucho en"}},
           {"difficult_integrations", {"integrar", "integrat*", "no se conectan", "don't talk to each other", "sistemas distintos", "different systems", "no conversan", "doble digitacion", "double entry"}},
           {"regulatory_compliance", {"regulacion", "regulat*", "cumplimiento", "compliance", "normativa*", "gdpr", "auditoria*", "audit*", "superintendencia", "ley de datos"}},
           {"dispersed_data", {"datos dispersos", "scattered data", "planillas", "spreadsheets", "silos", "muchas fuentes", "many sources", "cada area tiene", "every team has its own"}},
           {"saturated_support", {"saturad*", "overwhelmed", "no damos abasto", "cientos de mensajes", "hundreds of messages", "tiempo de respuesta", "response time", "colapsad*", "backlog", "sin responder", "unanswered"}},
           {"scalability", {"escalar", "scale", "scaling", "crecimiento", "growth", "crecer", "grow*", "temporada alta", "peak season", "duplicar", "double our"}},
       }},
      {"decision_maker_role",
       "ceo",
       {
           {"ceo", {"ceo", "gerente general", "general manager", "director ejecutivo", "chief executive"}},
           {"coo", {"coo", "chief operating", "gerente de operaciones", "director de operaciones"}},
           {"cto", {"cto", "chief technology", "director de tecnologia", "gerente de tecnologia"}},
           {"cmo", {"cmo", "chief marketing", "gerente de marketing", "head of marketing", "marketing director", "directora de marketing", "director de marketing"}},
           {"cio", {"cio", "chief information"}},
           {"cfo", {"cfo", "chief financial", "gerente de finanzas", "finance director", "gerente de administracion y finanzas"}},
           {"head_data", {"head of data", "jefe de datos", "jefa de datos", "lider de datos", "data lead", "gerente de datos", "data manager"}},
           {"head_ops", {"jefe de operaciones", "jefa de operaciones", "head of operations", "operations manager", "head of ops"}},
           {"head_sales", {"gerente comercial", "head of sales", "sales director", "jefe de ventas", "jefa de ventas", "director comercial", "directora comercial", "vp of sales", "sales manager"}},
           {"product_owner", {"product owner", "product manager", "dueno de producto", "jefe de producto", "jefa de producto"}},
           {"it_manager", {"jefe de ti", "jefa de ti", "it manager", "encargado de sistemas", "gerente de sistemas", "jefe de sistemas", "head of it"}},
           {"analyst", {"analista", "analyst"}},
           {"founder", {"fundador*", "founder*", "cofundador*", "co-founder", "dueno", "duena", "owner", "mi negocio", "my business", "emprendimiento"}},
       }},
      {"region",
       "latam_south",
       {
           {"latam_south", {"chile*", "santiago", "valparaiso", "concepcion", "argentin*", "buenos aires", "cordoba", "uruguay*", "montevideo", "paraguay*", "bolivia*", "peru*", "lima", "brasil", "brazil", "sao paulo"}},
           {"latam_north", {"mexic*", "cdmx", "monterrey", "guadalajara", "colombia*", "bogota", "medellin", "venezuel*", "ecuador*", "quito", "guatemala*", "costa rica", "panama*", "honduras", "el salvador", "nicaragua", "republica dominicana", "puerto rico", "caribe"}},
           {"north_america", {"united states", "estados unidos", "usa", "u.s.", "canada*", "new york", "nueva york", "california", "texas", "miami", "toronto", "chicago"}},
           {"europe", {"espana", "spain", "madrid", "barcelona", "europa", "europe*", "alemania", "germany", "francia", "france", "london", "londres", "united kingdom", "italia", "italy", "portugal", "lisboa"}},
           {"asia", {"china", "japon", "japan", "india", "singapur", "singapore", "corea", "korea", "asia*", "vietnam", "tokio", "tokyo"}},
           {"africa", {"africa*", "nigeria", "kenya", "kenia", "egipto", "egypt", "marruecos", "morocco", "sudafrica"}},
           {"oceania", {"australia*", "nueva zelanda", "new zealand", "sydney", "melbourne", "auckland"}},
       }},
  };
  return all;
}

const std::vector<const char*>& positive_words() {
  static const std::vector<const char*> w = {
      "excelente", "genial", "me encanta", "nos encanta", "perfecto", "perfect", "great", "love it", "excellent",
      "interesante", "interesting", "buenisimo", "fantastic*", "amazing", "encantad*", "happy", "feliz",
      "nos sirve", "muy bueno", "me gusta", "nos gusta", "impresionante", "impressive", "that works",
      "sounds good", "suena bien", "de acuerdo", "justo lo que", "exactly what", "wonderful", "gran ayuda"};
  return w;
}

const std::vector<const char*>& negative_words() {
  static const std::vector<const char*> w = {
      "muy caro", "too expensive", "no me convence", "not convinced", "frustrad*", "frustrat*", "molest*",
      "annoy*", "terrible", "decepcion*", "disappoint*", "confus*", "no funciona", "doesn't work",
      "preocupa*", "worried", "concern*", "no estoy seguro", "not sure", "perdida de tiempo",
      "waste of time", "no es lo que", "not what we", "complicado", "complicated", "mala experiencia",
      "bad experience", "no veo", "i don't see", "lamentablemente", "unfortunately", "dudas", "doubts"};
  return w;
}

const std::vector<const char*>& urgency_words() {
  static const std::vector<const char*> w = {
      "urgente", "urgent*", "lo antes posible", "asap", "as soon as possible", "este mes", "this month",
      "deadline", "plazo", "cuanto antes", "black friday", "cyber*", "next week", "la proxima semana",
      "esta semana", "this week", "antes de fin de mes", "before the end of", "de inmediato",
      "immediately", "no podemos esperar", "can't wait", "temporada alta", "peak season"};
  return w;
}

const std::vector<const char*>& bad_meeting_words() {
  static const std::vector<const char*> w = {
      "no entiendo", "i don't understand", "confus*", "no me convence", "not convinced",
      "perdida de tiempo", "waste of time", "no es lo que buscamos", "not what we need",
      "not what we're looking for", "decepcion*", "disappoint*", "no vamos a seguir", "we won't move forward",
      "mejor no", "pass on this", "no nos interesa", "not interested", "muy caro para nosotros",
      "too expensive for us"};
  return w;
}

const std::vector<const char*>& negotiation_words() {
  static const std::vector<const char*> w = {
      "precio*", "price*", "pricing", "descuento*", "discount*", "propuesta*", "proposal*", "cotizacion*",
      "quote", "cotizar", "condiciones", "terms", "planes", "plans", "presupuesto", "budget", "negociar",
      "negotiat*", "valor mensual", "monthly fee", "licencias", "licenses"};
  return w;
}

const std::vector<const char*>& closure_words() {
  static const std::vector<const char*> w = {
      "firmar", "firmamos", "sign the", "signed", "contrato", "contract", "cerramos", "trato hecho",
      "it's a deal", "deal", "orden de compra", "purchase order", "empezar la implementacion",
      "start the implementation", "kickoff", "onboarding", "vamos con", "let's go with",
      "confirmamos", "we confirm", "adelante", "go ahead"};
  return w;
}

const std::vector<const char*>& spanish_words() {
  static const std::vector<const char*> w = {"el", "la", "los", "las", "que", "de", "y", "en", "para",
                                             "con", "una", "por", "es", "nosotros", "pero", "muy",
                                             "tenemos", "hola", "gracias", "como"};
  return w;
}

const std::vector<const char*>& english_words() {
  static const std::vector<const char*> w = {"the", "and", "of", "to", "we", "our", "is", "for", "with",
                                             "that", "you", "have", "but", "very", "hello", "thanks",
                                             "what", "how", "this", "are"};
  return w;
}

const std::vector<const char*>& enterprise_words() {
  static const std::vector<const char*> w = {"multinacional*", "multinational*", "enterprise", "holding",
                                             "fortune 500", "en varios paises", "in several countries",
                                             "presencia global", "global presence", "corporativo",
                                             "corporate", "miles de empleados", "thousands of employees"};
  return w;
}

const std::vector<const char*>& large_words() {
  static const std::vector<const char*> w = {"empresa grande", "large company", "cientos de empleados",
                                             "hundreds of employees", "a nivel nacional", "nationwide",
                                             "cadena de", "chain of", "varias regiones", "many branches",
                                             "muchas sucursales"};
  return w;
}

const std::vector<const char*>& small_words() {
  static const std::vector<const char*> w = {"pequena", "pequeno", "small", "pyme", "emprendimiento",
                                             "startup", "negocio familiar", "family business", "somos pocos",
                                             "just a few of us", "solo yo", "only me", "microempresa"};
  return w;
}

std::string label(const std::string& value) {
  static const std::map<std::string, std::string> labels = {
      {"retail", "retail y comercio minorista"}, {"ecommerce", "comercio electrónico"},
      {"financial_services", "servicios financieros"}, {"insurance", "seguros"},
      {"healthcare", "salud"}, {"pharmaceuticals", "farmacéutica"}, {"energy", "energía"},
      {"utilities", "servicios básicos"}, {"telecom", "telecomunicaciones"},
      {"transportation_logistics", "transporte y logística"},
      {"tourism_hospitality", "turismo y hotelería"}, {"education", "educación"},
      {"government", "sector público"}, {"agroindustry", "agroindustria"},
      {"manufacturing", "manufactura"}, {"construction", "construcción"}, {"mining", "minería"},
      {"media_entertainment", "medios y entretenimiento"}, {"software_saas", "software y SaaS"},
      {"real_estate", "inmobiliario"}, {"food_beverages", "alimentos y bebidas"},
      {"cpg", "consumo masivo"}, {"automotive", "automotriz"}, {"ngo", "organización sin fines de lucro"},
      {"human_resources", "recursos humanos"},
      {"lead_scoring", "calificación de leads"}, {"customer_segmentation", "segmentación de clientes"},
      {"churn_prediction", "predicción de fuga"}, {"marketing_attribution", "atribución de marketing"},
      {"campaign_optimization", "optimización de campañas"},
      {"demand_forecasting", "pronóstico de demanda"}, {"voice_analytics", "analítica de voz"},
      {"operations_automation", "automatización de operaciones"},
      {"real_time_reporting", "reportes en tiempo real"},
      {"dw_modernization", "modernización del data warehouse"},
      {"fraud_detection", "detección de fraude"},
      {"conversational_support", "atención conversacional"},
      {"lack_visibility", "falta de visibilidad"}, {"slow_reporting", "reportes lentos"},
      {"low_conversion", "baja conversión"}, {"high_churn", "alta fuga de clientes"},
      {"high_advertising_costs", "costos altos de publicidad"},
      {"difficult_integrations", "integraciones difíciles"},
      {"regulatory_compliance", "cumplimiento regulatorio"}, {"dispersed_data", "datos dispersos"},
      {"saturated_support", "soporte saturado"}, {"scalability", "escalabilidad"},
      {"mercur", "Mercur (chats e integraciones)"}, {"iris", "Iris (rápido y simple)"},
      {"ads", "Ads (atribución y marketing)"}, {"axis", "Axis (solo integraciones)"},
      {"discovery", "descubrimiento"}, {"negotiation", "negociación"}, {"closure", "cierre"},
      {"referral", "referido"}, {"seo", "búsqueda orgánica"}, {"sem_ads", "anuncios pagados"},
      {"email", "newsletter"}, {"event", "evento"}, {"partner", "partner"},
      {"outbound_call", "llamada saliente"}, {"cold_email", "correo en frío"},
      {"linkedin", "LinkedIn"}, {"instagram", "Instagram"}, {"facebook", "Facebook"},
      {"webchat", "chat del sitio web"}, {"pr", "prensa"}, {"marketplace", "marketplace"},
  };
  auto it = labels.find(value);
  return it == labels.end() ? value : it->second;
}

}  // namespace mq::llm::rules
